"""Session fixtures that start the real servers the tests talk to.

Nothing here is mocked: a Tansu broker (or `MODELTRAIL_TEST_KAFKA`), SeaweedFS's
S3 gateway, a real Redis and the fake LLM backend served by uvicorn. A server
that cannot start is an error, never a skip.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from modeltrail.embedded.process import ManagedProcess, free_port, port_open
from modeltrail.embedded.servers import (
    BrokerProcess,
    S3Process,
    ensure_bucket,
    s3_gateway,
    tansu_broker,
)
from schemas.kafka import ensure_topics
from schemas.settings import KafkaSettings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last.

    Playwright's sync API (pytest-playwright) keeps an event loop running in the main
    thread from its session fixture on, so every asyncio test after it would fail with
    "cannot be called from a running event loop"; last, nothing comes after it.
    """
    items.sort(key=lambda i: "tests/browser/" in i.nodeid.replace("\\", "/"))  # stable


def unique(prefix: str = "t") -> str:
    """A short unique name for topics, groups and prefixes."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session", autouse=True)
def private_key_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Generated keys (command ring, control admin key) go to a temp dir, not the checkout.

    Every process of the test session (and the children it starts) shares the one
    command-signing ring, as the services of one `modeltrail up` do.
    """
    keys = tmp_path_factory.mktemp("keys")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODELTRAIL_SIGNING__KEY_FILE", str(keys / "command-keys.json"))
        mp.setenv("MODELTRAIL_PROXY__CONTROL_KEY_FILE", str(keys / "control.key"))
        yield keys


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-logs")


@pytest.fixture(scope="session")
def kafka_bootstrap(logs_dir: Path) -> Iterator[str]:
    """Bootstrap servers of a real Kafka-protocol broker for the whole session."""
    external = os.environ.get("MODELTRAIL_TEST_KAFKA")
    if external:
        yield external
        return
    broker = tansu_broker(None, logs_dir / "broker.log").start()
    try:
        yield broker.address
    finally:
        broker.stop()


@pytest.fixture
def broker_factory(logs_dir: Path) -> Iterator[Callable[[int | None], BrokerProcess]]:
    """Start extra brokers a test can stop and restart (spool, outage tests)."""
    started: list[BrokerProcess] = []

    def start(port: int | None = None) -> BrokerProcess:
        proc = tansu_broker(port, logs_dir / f"broker-{unique('')}.log").start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    """Broker settings with a topic prefix unique to this test; topics already exist."""
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"{unique()}.")
    asyncio.run(ensure_topics(settings))
    return settings


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str
    access_key: str = "modeltrail"
    secret_key: str = "modeltrail-secret"
    region: str = "us-east-1"
    process: S3Process | None = None

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory, logs_dir: Path) -> Iterator[S3Server]:
    """SeaweedFS's S3 gateway with one bucket for the session."""
    proc = s3_gateway(tmp_path_factory.mktemp("seaweed"), logs_dir / "s3.log").start()
    server = S3Server(endpoint=proc.endpoint, bucket="modeltrail-test", process=proc)
    try:
        ensure_bucket(
            server.endpoint,
            server.bucket,
            access_key=server.access_key,
            secret_key=server.secret_key,
            region=server.region,
        )
    except Exception:
        proc.stop()
        raise
    try:
        yield server
    finally:
        proc.stop()


@pytest.fixture
def s3_prefix() -> str:
    """An object-key prefix unique to this test."""
    return unique("p")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A real Redis; database 15 unless `MODELTRAIL_TEST_REDIS` says otherwise."""
    import redis

    url = os.environ.get("MODELTRAIL_TEST_REDIS", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise RuntimeError(f"Redis at {url} is not reachable: {exc}") from exc
    finally:
        client.close()
    return url


@pytest.fixture(scope="session")
def fake_backend_url(logs_dir: Path) -> Iterator[str]:
    """Base URL of the fake OpenAI/Anthropic/Ollama backend, served by uvicorn."""
    port = free_port()
    proc = ManagedProcess(
        "fake-backend",
        [
            sys.executable,
            "-m",
            "modeltrail.embedded.fake_backend",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        log_path=logs_dir / "fake-backend.log",
        ready=lambda: port_open("127.0.0.1", port),
    ).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()
