"""`python -m proxy` as a real process: serves both ports, audits, drains on SIGTERM."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx

from modeltrail.embedded.process import ManagedProcess, free_port, port_open
from proxy.control.keyfile import read_key_file
from schemas.events import LLMRequest, LLMResponse
from schemas.settings import KafkaSettings
from tests.support.proxy_harness import collect, for_request


async def test_process_serves_audits_and_exits_cleanly(
    kafka_settings: KafkaSettings, fake_backend_url: str, tmp_path: Path
) -> None:
    port, control = free_port(), free_port()
    env = {
        "MODELTRAIL_KAFKA__BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "MODELTRAIL_KAFKA__TOPIC_PREFIX": kafka_settings.topic_prefix,
        "MODELTRAIL_PROXY__HOST": "127.0.0.1",
        "MODELTRAIL_PROXY__PORT": str(port),
        "MODELTRAIL_PROXY__CONTROL_PORT": str(control),
        "MODELTRAIL_PROXY__SPOOL_DIR": str(tmp_path / "spool"),
        "MODELTRAIL_PROXY__CONTROL_KEY_FILE": str(tmp_path / "control.key"),
        "MODELTRAIL_PROXY__BACKENDS": json.dumps([{"name": "fake", "url": fake_backend_url}]),
        "MODELTRAIL_PROXY__DEFAULT_BACKEND": "fake",
        "MODELTRAIL_PROXY__KEY_SECRET_FILE": str(tmp_path / "key-secret"),
    }
    proc = ManagedProcess(
        "proxy",
        [sys.executable, "-m", "proxy"],
        log_path=tmp_path / "proxy.log",
        ready=lambda: port_open("127.0.0.1", port) and port_open("127.0.0.1", control),
        env=env,
    ).start()
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "n"}]}
            keyless = await client.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=chat)
            assert keyless.status_code == 401  # client keys are on by default
            made = await client.post(f"http://127.0.0.1:{control}/control/keys", json={"team": "t"})
            assert made.status_code == 201, made.text
            key = made.json()["key"]
            ids = []
            for i in range(3):
                resp = await client.post(
                    f"http://127.0.0.1:{port}/v1/chat/completions",
                    json={"model": "gpt-4o", "messages": [{"role": "user", "content": f"n{i}"}]},
                    headers={"x-session-id": "proc", "authorization": f"Bearer {key}"},
                )
                assert resp.status_code == 200
                # the backend's date and server, once each (not uvicorn's as well)
                assert len(resp.headers.get_list("date")) == 1
                assert len(resp.headers.get_list("server")) <= 1
                ids.append(resp.headers["x-modeltrail-request-id"])
            health = await client.get(f"http://127.0.0.1:{control}/control/health")
            assert health.status_code == 200
            key = read_key_file(tmp_path / "control.key")
            assert key is not None
            metrics = (
                await client.get(
                    f"http://127.0.0.1:{control}/metrics",
                    headers={"authorization": f"Bearer {key}"},
                )
            ).text
            assert 'modeltrail_proxy_requests_total{backend="fake"' in metrics
    finally:
        code = proc.stop()
    assert code == 0, proc.tail()
    log = (tmp_path / "proxy.log").read_text()
    assert "emitter_stopped" in log and key not in log
    assert (tmp_path / "key-secret").stat().st_mode & 0o777 == 0o600
    events = await collect(
        kafka_settings,
        [kafka_settings.topics.requests, kafka_settings.topics.responses],
        lambda evs: all(len(for_request(evs, r)) == 2 for r in ids),
    )
    for r in ids:
        kinds = sorted(type(e).__name__ for e in for_request(events, r))
        assert kinds == [LLMRequest.__name__, LLMResponse.__name__]
