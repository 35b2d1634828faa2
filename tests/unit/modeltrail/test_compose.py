"""docker-compose.yml, Dockerfile and .dockerignore: structure checked without a Docker engine."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from modeltrail.healthcheck import describe_ok
from proxy.exposure import exposure_problems
from proxy.pii.settings import PIISettings
from proxy.settings import ProxySettings
from schemas.settings import KafkaSettings, RedisSettings, is_known_default
from schemas.signing import SigningSettings
from sinks.settings import SinkSettings
from streams.settings import StreamsSettings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
APP_SERVICES = {"proxy": ProxySettings, "streams": StreamsSettings, "sink": SinkSettings}
ONE_SHOT = {"minio-init", "topics"}
_VAR = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")
#: What an operator puts in `.env` for the required (`${VAR:?}`) variables.
OPERATOR_SECRETS = {
    "MODELTRAIL_CONTROL_KEY": "3f9c2a8e1b7d4c6a",
    "MODELTRAIL_KEY_SALT": "9a1b2c3d4e5f6a7b",
    "MODELTRAIL_COMMAND_KEY": "c0ffee00deadbeef",
    "MODELTRAIL_KEY_SECRET": "7d2e9f4a1c8b3e6d5f0a",
    "MODELTRAIL_PII_KEY": "JiUkIyIhIB8eHRwbGhkYFxYVFBMSERAPDg0MCwoJCAc=",
    "MINIO_ROOT_PASSWORD": "5e6f7a8b9c0d1e2f",
}


def _substitute(match: re.Match[str]) -> str:
    name, kind, rest = match.group(1), match.group(2), match.group(3) or ""
    if kind == "?":
        return OPERATOR_SECRETS[name]
    return rest


def resolved_env(service: str) -> dict[str, str]:
    """A service's environment as compose resolves it with the operator's `.env`."""
    env = SERVICES[service].get("environment", {})
    assert isinstance(env, dict), f"{service}: environment must be a mapping"
    return {k: _VAR.sub(_substitute, str(v)) for k, v in env.items()}


def test_compose_has_no_default_secrets() -> None:
    """Secrets are required variables (`${VAR:?}`): compose will not start without them."""
    text = (ROOT / "docker-compose.yml").read_text()
    for match in _VAR.finditer(text):
        name, kind, rest = match.group(1), match.group(2), match.group(3) or ""
        # A provider key may be unset: empty injects nothing (clients bring their own).
        provider_key = name.endswith("_API_KEY") and kind == "-" and rest == ""
        if any(word in name for word in ("KEY", "SALT", "PASSWORD", "SECRET")) and not provider_key:
            assert kind == "?", f"{name} must be required, not defaulted to {rest!r}"
        assert provider_key or not is_known_default(rest) or kind == "?", name
    for service in APP_SERVICES:
        for key, value in resolved_env(service).items():
            assert not is_known_default(value) or not value, (service, key)


def test_expected_services() -> None:
    assert set(SERVICES) >= {"kafka", "redis", "minio", "minio-init", "topics", *APP_SERVICES}


def test_kafka_runs_in_kraft_mode() -> None:
    kafka = SERVICES["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "CONTROLLER" in env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert not any("ZOOKEEPER" in k for k in env), "KRaft: no ZooKeeper"
    assert "zookeeper" not in SERVICES


def test_app_services_built_from_the_dockerfile() -> None:
    for name in [*APP_SERVICES, "topics"]:
        build = SERVICES[name]["build"]
        assert build["context"] == "." and build["dockerfile"] == "Dockerfile", name
    commands = {name: SERVICES[name]["command"] for name in APP_SERVICES}
    assert commands == {
        "proxy": ["python", "-m", "proxy"],
        "streams": ["python", "-m", "streams"],
        "sink": ["python", "-m", "sinks"],
    }


def test_ports() -> None:
    proxy_ports = SERVICES["proxy"]["ports"]
    assert "8080:8080" in proxy_ports
    # The control API is published on loopback only.
    assert "127.0.0.1:9090:9090" in proxy_ports
    assert any(p.endswith(":9000") for p in SERVICES["minio"]["ports"])


@pytest.mark.parametrize("service", sorted(APP_SERVICES))
def test_env_names_exist_in_the_settings_classes(service: str) -> None:
    cls = APP_SERVICES[service]
    prefix = str(cls.model_config["env_prefix"])
    known = {f"{prefix}{field.upper()}" for field in cls.model_fields}
    if cls is ProxySettings:
        known |= {f"{prefix}PII__{field.upper()}" for field in PIISettings.model_fields}
    sections = (("KAFKA", KafkaSettings), ("REDIS", RedisSettings), ("SIGNING", SigningSettings))
    for section, section_cls in sections:
        known |= {f"MODELTRAIL_{section}__{f.upper()}" for f in section_cls.model_fields}
    env = resolved_env(service)
    assert env, f"{service}: no environment"
    unknown = sorted(k for k in env if k.startswith("MODELTRAIL_") and k not in known)
    assert not unknown, f"{service}: env names no settings class reads: {unknown}"


@pytest.mark.parametrize("service", sorted(APP_SERVICES))
def test_env_values_validate(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("MODELTRAIL_"):
            monkeypatch.delenv(key)
    for key, value in resolved_env(service).items():
        monkeypatch.setenv(key, value)
    settings: BaseSettings = APP_SERVICES[service]()
    kafka = settings.kafka  # type: ignore[attr-defined]
    assert kafka.bootstrap_servers == "kafka:9092"
    if isinstance(settings, ProxySettings):
        assert settings.session_store == "redis"
        assert settings.redis.url.get_secret_value().startswith("redis://redis:6379")
        # Bound to 0.0.0.0 inside the container: the control API requires keys.
        assert settings.control_host == "0.0.0.0" and settings.control_keys
        assert exposure_problems(settings) == []  # it would start
        assert settings.pii.keys  # the vault is shared through Redis: one key for all
        assert settings.default_backend in {b.name for b in settings.backends}
        assert settings.on_broker_down == "spool"
        # Client keys are required, with a secret the operator must supply.
        assert settings.client_auth == "keys"
        raw = str(SERVICES["proxy"]["environment"]["MODELTRAIL_PROXY__KEY_SECRET"])
        assert raw.startswith("${MODELTRAIL_KEY_SECRET:?")
    if isinstance(settings, SinkSettings):
        assert settings.target.startswith("s3://")
        assert settings.s3_endpoint_url == "http://minio:9000"
    if isinstance(settings, ProxySettings | StreamsSettings):
        assert [k.id for k in settings.signing.keys] == ["k1"]  # both share the ring


def test_sink_bucket_is_created_by_minio_init() -> None:
    bucket = resolved_env("sink")["MODELTRAIL_SINK__TARGET"].removeprefix("s3://").split("/")[0]
    script = " ".join(SERVICES["minio-init"]["entrypoint"])
    assert f"mc mb --ignore-existing local/{bucket}" in script
    env = resolved_env("sink")
    minio = resolved_env("minio")
    assert env["MODELTRAIL_SINK__S3_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"]
    assert env["MODELTRAIL_SINK__S3_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"]


def test_proxy_history_reads_the_trail_the_sink_writes() -> None:
    proxy, sink = resolved_env("proxy"), resolved_env("sink")
    assert proxy["MODELTRAIL_PROXY__HISTORY_PATH"] == sink["MODELTRAIL_SINK__TARGET"]
    for field in ("ENDPOINT_URL", "REGION", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY"):
        assert (
            proxy[f"MODELTRAIL_PROXY__HISTORY_S3_{field}"] == sink[f"MODELTRAIL_SINK__S3_{field}"]
        )


def test_long_running_services_have_healthchecks() -> None:
    for name, service in SERVICES.items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", f"{name} is one-shot"
            continue
        check = service.get("healthcheck")
        assert check and not check.get("disable"), f"{name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert check.get("interval") and check.get("retries"), name


def test_consumer_healthchecks_watch_their_own_groups() -> None:
    streams = StreamsSettings.model_fields["app_id"].default
    sink = SinkSettings.model_fields["group_id"].default
    assert SERVICES["streams"]["healthcheck"]["test"][-2:] == ["group", streams]
    assert SERVICES["sink"]["healthcheck"]["test"][-2:] == ["group", sink]
    assert resolved_env("streams")["MODELTRAIL_STREAMS__APP_ID"] == streams
    assert resolved_env("sink")["MODELTRAIL_SINK__GROUP_ID"] == sink
    assert "http://127.0.0.1:9090/control/health" in SERVICES["proxy"]["healthcheck"]["test"]


def test_depends_on_with_conditions() -> None:
    expected = {
        "proxy": {
            "kafka": "service_healthy",
            "redis": "service_healthy",
            "topics": "service_completed_successfully",
        },
        "streams": {"kafka": "service_healthy", "topics": "service_completed_successfully"},
        "sink": {
            "kafka": "service_healthy",
            "topics": "service_completed_successfully",
            "minio-init": "service_completed_successfully",
        },
        "topics": {"kafka": "service_healthy"},
        "minio-init": {"minio": "service_healthy"},
    }
    for name, deps in expected.items():
        got = {dep: cond["condition"] for dep, cond in SERVICES[name]["depends_on"].items()}
        assert got == deps, name


def test_every_dependency_is_a_service() -> None:
    for name, service in SERVICES.items():
        for dep in service.get("depends_on", {}):
            assert dep in SERVICES, f"{name} depends on unknown {dep}"


def test_dockerfile_is_multi_stage_non_root_with_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+(?:\s+AS\s+(\w+))?", text, re.M | re.I)
    assert len(stages) >= 2, "multi-stage"
    assert "COPY --from=build" in text
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*modeltrail\.healthcheck", text, re.M | re.S)
    assert re.search(r"^EXPOSE 8080 9090", text, re.M)
    for package in ("schemas", "proxy", "streams", "sinks", "modeltrail"):
        assert f"COPY {package} ./{package}" in text


def test_dockerignore_keeps_the_context_small() -> None:
    lines = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".git", "modeltrail-data", "tests"} <= lines
    assert "modeltrail/embedded/fake_backend" in lines  # test tooling stays out of the image


def test_describe_ok_reads_group_descriptions() -> None:
    member = {"member_id": "m", "client_id": "c", "client_host": "/1.2.3.4"}
    stable = {"error_code": 0, "group": "g", "state": "Stable", "members": [member]}
    assert describe_ok({"groups": [stable]}, "g")
    assert not describe_ok({"groups": [stable]}, "other")
    assert not describe_ok({"groups": [{**stable, "state": "PreparingRebalance"}]}, "g")
    assert not describe_ok({"groups": [{**stable, "members": []}]}, "g")
    assert not describe_ok({"groups": [{**stable, "error_code": 16}]}, "g")
    assert not describe_ok({}, "g")
