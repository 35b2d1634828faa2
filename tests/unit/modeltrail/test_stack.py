"""`modeltrail up` without servers: options to env, status table, readiness, stop order."""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from modeltrail.cmd_stack import app, options_from_cli
from modeltrail.embedded.process import ManagedProcess, free_port
from modeltrail.stack import (
    S3_BROKER_STREAMS_FETCH_WAIT_MS,
    START_ORDER,
    STOP_ORDER,
    BackendSpec,
    StackOptions,
    WebhookOption,
    client_env_lines,
    part_envs,
    status_rows,
)
from modeltrail.trail import audit_rows
from modeltrail.up import LogReady, Stack, StackError
from proxy.pii.service import vault_key_problems
from proxy.settings import ProxySettings
from schemas import TABLES, arrow_schema
from schemas.events import LLMRequest, LLMResponse, SessionCommand, Violation
from sinks.keys import object_key
from sinks.parquet import events_table, to_parquet
from sinks.settings import SinkSettings
from streams.settings import StreamsSettings

SETTINGS = {"proxy": ProxySettings, "streams": StreamsSettings, "sink": SinkSettings}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("openai=https://api.openai.com", BackendSpec("openai", "https://api.openai.com")),
        (
            "claude=https://api.anthropic.com/,anthropic",
            BackendSpec("claude", "https://api.anthropic.com", "anthropic"),
        ),
        (
            "local=http://127.0.0.1:11434, Ollama",
            BackendSpec("local", "http://127.0.0.1:11434", "ollama"),
        ),
        ("gw=https://gw.example/openai/v1", BackendSpec("gw", "https://gw.example/openai/v1")),
    ],
)
def test_backend_parse(text: str, expected: BackendSpec) -> None:
    assert BackendSpec.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("https://api.openai.com", "NAME=URL"),
        ("=https://x", "NAME=URL"),
        ("x=", "NAME=URL"),
        ("x=ftp://host", "not an http(s) URL"),
        ("x=https://host,gemini", "provider 'gemini'"),
    ],
)
def test_backend_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        BackendSpec.parse(text)


def test_demo_backend_is_default_without_backends() -> None:
    assert StackOptions().use_demo_backend
    # Every part but the alerts service, which runs only with --webhook.
    assert StackOptions().parts() == tuple(p for p in START_ORDER if p != "alerts")
    with_backend = StackOptions(backends=(BackendSpec("o", "https://o"),))
    assert not with_backend.use_demo_backend
    assert "fake-backend" not in with_backend.parts()
    both = StackOptions(backends=(BackendSpec("o", "https://o"),), demo_backend=True)
    assert "fake-backend" in both.parts()
    external = StackOptions(kafka="kafka:9092")
    assert "broker" not in external.parts() and "proxy" in external.parts()


def test_options_validation() -> None:
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        StackOptions(s3="bucket/prefix")
    with pytest.raises(ValueError, match="unique"):
        StackOptions(backends=(BackendSpec("a", "https://a"), BackendSpec("a", "https://b")))
    with pytest.raises(ValueError, match="reserved"):
        StackOptions(backends=(BackendSpec("demo", "https://a"),), demo_backend=True)


def _cli(**overrides: object) -> StackOptions:
    values: dict[str, object] = dict(
        data_dir=Path("data"),
        kafka=None,
        kafka_port=9092,
        topic_prefix="",
        redis=None,
        s3=None,
        s3_endpoint=None,
        s3_region=None,
        host="127.0.0.1",
        port=8080,
        control_host="127.0.0.1",
        control_port=9090,
        backend=[],
        demo_backend=None,
        policy=None,
    )
    values.update(overrides)
    return options_from_cli(**values)  # type: ignore[arg-type]


def test_cli_values_become_options() -> None:
    opts = _cli(backend=["o=https://o", "a=https://a,anthropic"], redis="redis://r:6379/1")
    assert opts.data_dir.is_absolute()
    assert [b.name for b in opts.backends] == ["o", "a"]
    assert opts.redis == "redis://r:6379/1"
    with pytest.raises(typer.BadParameter, match="NAME=URL"):
        _cli(backend=["nonsense"])
    with pytest.raises(typer.BadParameter, match="s3://"):
        _cli(s3="http://bucket")


def _load(part: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> object:
    for key in list(os.environ):
        if key.startswith("MODELTRAIL_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return SETTINGS[part]()


def test_embedded_env_validates_in_each_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opts = StackOptions(data_dir=tmp_path, port=8181, control_port=9191, topic_prefix="mt.")
    envs = part_envs(opts, bootstrap="127.0.0.1:9092", fake_url="http://127.0.0.1:5555")
    assert set(envs) == {"proxy", "streams", "sink"}
    proxy = _load("proxy", envs["proxy"], monkeypatch)
    assert isinstance(proxy, ProxySettings)
    assert (proxy.port, proxy.control_port, proxy.control_host) == (8181, 9191, "127.0.0.1")
    assert proxy.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert proxy.kafka.topic_prefix == "mt."
    assert [(b.name, b.url) for b in proxy.backends] == [("demo", "http://127.0.0.1:5555")]
    assert proxy.default_backend == "demo"
    assert proxy.session_store == "memory"
    assert proxy.spool_dir == tmp_path / "spool"
    assert proxy.history_path == str(tmp_path / "trail")
    sink = _load("sink", envs["sink"], monkeypatch)
    assert isinstance(sink, SinkSettings)
    assert sink.target == str(tmp_path / "trail") and sink.kafka.topic_prefix == "mt."
    assert sink.idle_flush_s == 2.0
    streams = _load("streams", envs["streams"], monkeypatch)
    assert isinstance(streams, StreamsSettings)
    assert streams.data_dir == tmp_path / "streams"
    assert streams.kafka.bootstrap_servers == "127.0.0.1:9092"
    # The default broker keeps topics in s3 storage: the worker waits long enough per fetch.
    assert streams.fetch_max_wait_ms == S3_BROKER_STREAMS_FETCH_WAIT_MS
    memory = replace(opts, broker_storage="memory")
    envs = part_envs(memory, bootstrap="127.0.0.1:9092", fake_url="http://127.0.0.1:5555")
    streams = _load("streams", envs["streams"], monkeypatch)
    assert isinstance(streams, StreamsSettings)
    assert streams.fetch_max_wait_ms == StreamsSettings().fetch_max_wait_ms < 100


def test_external_services_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opts = StackOptions(
        data_dir=tmp_path,
        kafka="k1:9092,k2:9092",
        redis="redis://:pw@r:6379/2",
        s3="s3://bucket/trail/",
        s3_endpoint="http://minio:9000",
        s3_region="eu-west-1",
        backends=(
            BackendSpec("openai", "https://api.openai.com"),
            BackendSpec("claude", "https://api.anthropic.com", "anthropic"),
        ),
        policy_preset="strict",
    )
    envs = part_envs(opts, bootstrap="k1:9092,k2:9092")
    proxy = _load("proxy", envs["proxy"], monkeypatch)
    assert isinstance(proxy, ProxySettings)
    assert proxy.session_store == "redis"
    assert proxy.redis.url.get_secret_value() == "redis://:pw@r:6379/2"
    # The vault on Redis has a key that outlives restarts: the proxy starts.
    assert proxy.pii.key_file == tmp_path / "pii-key" and vault_key_problems(proxy) == []
    assert proxy.default_backend == "openai"
    assert "MODELTRAIL_PROXY__HISTORY_PATH" not in envs["proxy"], "history reads local trails"
    assert {b.name: b.models for b in proxy.backends} == {"openai": [], "claude": ["claude*"]}
    assert json.loads(envs["proxy"]["MODELTRAIL_PROXY__BACKENDS"])[1]["provider"] == "anthropic"
    sink = _load("sink", envs["sink"], monkeypatch)
    assert isinstance(sink, SinkSettings)
    assert sink.target == "s3://bucket/trail"
    assert (sink.s3_endpoint_url, sink.s3_region) == ("http://minio:9000", "eu-west-1")
    streams = _load("streams", envs["streams"], monkeypatch)
    assert isinstance(streams, StreamsSettings) and streams.policy_preset == "strict"


def test_demo_backend_needs_its_url() -> None:
    with pytest.raises(ValueError, match="URL is unknown"):
        part_envs(StackOptions(), bootstrap="b:1")


def test_status_rows_and_env_lines() -> None:
    opts = StackOptions(host="0.0.0.0", port=8081, control_port=9091, redis="redis://:secret@r/0")
    assert client_env_lines(opts) == [
        "OPENAI_BASE_URL=http://127.0.0.1:8081/v1",
        "ANTHROPIC_BASE_URL=http://127.0.0.1:8081",
    ]
    rows = dict(status_rows(opts, bootstrap="127.0.0.1:9092", fake_url="http://127.0.0.1:7000"))
    assert rows["proxy"] == "http://127.0.0.1:8081"
    assert rows["control API"] == "http://127.0.0.1:9091/control/health"
    assert rows["dashboard"] == "http://127.0.0.1:9091/ui/"
    assert rows["demo backend"] == "http://127.0.0.1:7000"
    assert rows["session store"] == "redis (redis://:***@r/0)"
    assert rows["audit trail"].endswith("trail")
    envs = [w for what, w in status_rows(opts, bootstrap="b:1", fake_url=None) if what == "env"]
    assert envs == client_env_lines(opts)
    assert "secret" not in repr(status_rows(opts, bootstrap="b:1"))


def test_status_table_renders_env_lines(tmp_path: Path) -> None:
    stack = Stack(StackOptions(data_dir=tmp_path))
    stack.fake_url = "http://127.0.0.1:7001"
    console = Console(record=True, width=160)
    console.print(stack.status_table())
    console.print(stack.progress())
    text = console.export_text()
    assert "OPENAI_BASE_URL=http://127.0.0.1:8080/v1" in text
    assert "ANTHROPIC_BASE_URL=http://127.0.0.1:8080" in text
    for part in (*StackOptions().parts(), "topics"):
        assert part in text


def test_stop_order_constant() -> None:
    assert STOP_ORDER.index("proxy") == 0
    assert STOP_ORDER.index("proxy") < STOP_ORDER.index("streams") < STOP_ORDER.index("sink")
    assert STOP_ORDER[-2:] == ("broker", "broker-store")
    assert set(STOP_ORDER) == set(START_ORDER)


def test_port_in_use_is_refused(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        stack = Stack(StackOptions(data_dir=tmp_path, port=port, control_port=port + 1))
        with pytest.raises(StackError, match=f"port {port} is already in use.*--port"):
            stack.check_ports()


def test_log_ready(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    ready = LogReady(log, re.compile("Worker\\]: Ready"), settle_s=60)
    assert not ready()
    log.write_text("starting\n")
    assert not ready(), "a line but not settled nor the ready line"
    log.write_text("starting\n[^Worker]: Ready\n")
    assert ready()
    settled = LogReady(log.with_name("y.log"), re.compile("never"), settle_s=0)
    log.with_name("y.log").write_text("one line\n")
    assert settled()


CHILD = """
import signal, sys, time
name, out = sys.argv[1], sys.argv[2]
def term(*_):
    with open(out, "a") as f:
        f.write(f"term {name}\\n")
    time.sleep(0.1)  # a drain or a flush
    with open(out, "a") as f:
        f.write(f"exit {name}\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
print("ready", flush=True)
while True:
    time.sleep(1)
"""


def test_stop_runs_parts_one_at_a_time_in_order(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out = tmp_path / "events.txt"
    hook = WebhookOption("https://hooks.example/a")
    stack = Stack(StackOptions(data_dir=tmp_path, webhooks=(hook,)))
    assert stack.opts.parts() == START_ORDER
    for part in START_ORDER:
        log = tmp_path / f"{part}.log"
        stack.processes[part] = ManagedProcess(
            part,
            [sys.executable, str(script), part, str(out)],
            log_path=log,
            ready=lambda log=log: "ready" in log.read_text(),  # type: ignore[misc]
        ).start()
    assert stack.dead_parts() == []
    stopped: list[tuple[str, int | None]] = []
    stack.stop(lambda part, code: stopped.append((part, code)))
    expected = [line for part in STOP_ORDER for line in (f"term {part}", f"exit {part}")]
    assert out.read_text().splitlines() == expected
    assert stopped == [(part, 0) for part in STOP_ORDER]
    assert all(stack.states[p].state == "stopped" for p in START_ORDER)


def test_dead_part_is_found(tmp_path: Path) -> None:
    stack = Stack(StackOptions(data_dir=tmp_path))
    log = tmp_path / "sink.log"
    code = "import sys, time; print('up', flush=True); time.sleep(0.3); print('boom'); sys.exit(3)"
    proc = ManagedProcess(
        "sink", [sys.executable, "-c", code], log_path=log, ready=lambda: log.stat().st_size > 0
    )
    stack.processes["sink"] = proc.start()
    assert proc.proc is not None
    proc.proc.wait(10)
    assert stack.dead_parts() == ["sink"]
    assert stack.exit_code("sink") == 3
    assert "boom" in proc.tail()


def test_audit_rows_read_one_session_from_the_trail(tmp_path: Path) -> None:
    t0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    base = {"source": "test", "session_id": "s'1"}
    events = [
        LLMRequest(
            **base,
            time=t0,
            backend="demo",
            provider="openai",
            path="/v1/chat/completions",
            model="m",
        ),
        LLMResponse(
            **base,
            time=t0 + timedelta(seconds=1),
            backend="demo",
            provider="openai",
            path="/v1/chat/completions",
            status_code=200,
            latency_ms=1.0,
            total_tokens=7,
        ),
        Violation(
            **base,
            time=t0 + timedelta(seconds=2),
            rule_id="secrets.aws_access_key",
            owasp="LLM02",
            severity="critical",
            action="kill",
            enforced=True,
            target="response",
        ),
        SessionCommand(
            **base,
            time=t0 + timedelta(seconds=3),
            command="kill",
            block_mode="permanent",
            rule_id="secrets.aws_access_key",
            issuer="streams-1",
            decision_id="d1",
        ),
        LLMRequest(
            source="test", session_id="other", time=t0, backend="demo", provider="openai", path="/x"
        ),
    ]
    assert audit_rows(str(tmp_path), "s'1") == [], "an empty trail has no rows"
    by_table = {name: [e for e in events if type(e) is model] for name, model in TABLES.items()}
    for table, rows in by_table.items():
        if rows:
            key = object_key("", table, f"t.{table}", 0, 0, rows[0].time)
            path = tmp_path / key
            path.parent.mkdir(parents=True)
            path.write_bytes(to_parquet(events_table(rows, arrow_schema(TABLES[table]))))
    rows = audit_rows(str(tmp_path), "s'1")
    assert [(r["kind"], r["what"]) for r in rows] == [
        ("request", "POST /v1/chat/completions"),
        ("response", "200 ok"),
        ("violation", "secrets.aws_access_key"),
        ("command", "kill"),
    ]
    assert rows[0]["detail"] == "m"
    assert rows[1]["detail"] == "7 tokens"
    assert rows[3]["detail"] == "permanent secrets.aws_access_key by streams-1"


def test_cli_rejects_bad_options_before_starting_anything(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["up", "--data-dir", str(tmp_path), "--backend", "nonsense"])
    assert result.exit_code == 2
    assert "NAME=URL" in result.output
    result = runner.invoke(app, ["up", "--data-dir", str(tmp_path), "--s3", "bucket"])
    assert result.exit_code == 2
    assert not (tmp_path / "logs").exists(), "nothing started"


def test_demo_without_a_stack_says_so() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    result = CliRunner().invoke(app, ["demo", "--proxy", url, "--control", url, "--timeout", "1"])
    assert result.exit_code == 2
    assert "modeltrail up" in result.output


@pytest.mark.parametrize(
    ("text", "url", "fmt"),
    [
        ("https://hooks.example/a", "https://hooks.example/a", "json"),
        ("http://127.0.0.1:9000/hook,ocsf", "http://127.0.0.1:9000/hook", "ocsf"),
        (
            "https://hooks.slack.com/services/T/B/X, Slack",
            "https://hooks.slack.com/services/T/B/X",
            "slack",
        ),
    ],
)
def test_webhook_option_parses(text: str, url: str, fmt: str) -> None:
    assert WebhookOption.parse(text) == WebhookOption(url, fmt)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["ftp://x/y", "not a url", "https://ok.example/a,xml"])
def test_webhook_option_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        WebhookOption.parse(text)


def test_webhooks_run_the_alerts_service_signed_and_allow_only_their_own_host() -> None:
    opts = StackOptions(
        webhooks=(
            WebhookOption("http://127.0.0.1:9000/hook", "ocsf"),
            WebhookOption("https://hooks.example/a"),
        )
    )
    assert "alerts" in opts.parts()
    env = part_envs(
        opts, bootstrap="127.0.0.1:9092", fake_url="http://127.0.0.1:5555", webhook_secret="s3cr3t"
    )["alerts"]
    hooks = json.loads(env["MODELTRAIL_ALERTS__WEBHOOKS"])
    assert [(h["url"], h["format"], h["secret"]) for h in hooks] == [
        ("http://127.0.0.1:9000/hook", "ocsf", "s3cr3t"),
        ("https://hooks.example/a", "json", "s3cr3t"),
    ]
    assert json.loads(env["MODELTRAIL_ALERTS__ALLOW_HOSTS"]) == ["127.0.0.1", "hooks.example"]
    assert env["MODELTRAIL_KAFKA__BOOTSTRAP_SERVERS"] == "127.0.0.1:9092"
    # The env is what the alerts service's settings read.
    from streams.alerts.settings import AlertsSettings

    settings = AlertsSettings(
        webhooks=hooks, allow_hosts=json.loads(env["MODELTRAIL_ALERTS__ALLOW_HOSTS"])
    )
    assert settings.webhooks[0].format == "ocsf"
