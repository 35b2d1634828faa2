"""A proxy replica with client keys on: the real proxy app (uvicorn), enforcement, key book
and its control API, sharing Kafka and Redis with its sibling replicas. Not a test module."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from proxy.app import ProxyApp
from proxy.control import create_control_app
from proxy.control.keyfile import read_key_file
from proxy.enforcement import EnforcementService
from proxy.keys.gate import ClientGate, build_key_book
from proxy.settings import ProxySettings
from schemas.settings import KafkaSettings, RedisSettings
from tests.support.proxy_harness import make_settings, running_proxy

PII_KEY = "JiUkIyIhIB8eHRwbGhkYFxYVFBMSERAPDg0MCwoJCAc="


def settings_for_replica(
    kafka: KafkaSettings,
    backend_url: str,
    tmp_path: Path,
    name: str,
    redis_url: str,
    redis_prefix: str,
    **overrides: Any,
) -> ProxySettings:
    """Keys on, the Redis store and counters, one shared key secret."""
    values: dict[str, Any] = {
        "instance_id": name,
        "client_auth": "keys",
        "key_secret": SecretStr("integration-key-secret"),
        "session_store": "redis",
        "redis": RedisSettings(url=SecretStr(redis_url), key_prefix=redis_prefix),
        # The PII vault is on Redis too: one key ring for every replica.
        "pii": {"keys": [SecretStr(PII_KEY)]},
        "enforcement_replay_timeout_s": 20,
        "keys_replay_timeout_s": 20,
        "command_fetch_wait_ms": 20,
    }
    values.update(overrides)
    return make_settings(kafka, backend_url, tmp_path / f"spool-{name}", **values)


@dataclass
class Replica:
    url: str
    control: httpx.AsyncClient
    app: ProxyApp
    gate: ClientGate
    enforcement: EnforcementService

    async def wait_for_key(self, key_id: str, timeout_s: float = 5.0) -> None:
        await until(
            lambda: self.gate.book is not None and self.gate.book.registry.get(key_id) is not None,
            timeout_s,
        )


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> float:
    """Poll `condition` until true; return the seconds it took (TimeoutError past the deadline)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not condition():
        if loop.time() - start > timeout_s:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.002)
    return loop.time() - start


@contextlib.asynccontextmanager
async def replica(
    settings: ProxySettings, gate: ClientGate | None = None
) -> AsyncIterator[Replica]:
    """One replica: proxy on a real port, control API in-process over its own parts."""
    enforcement = EnforcementService(settings)
    gate = gate or ClientGate(settings, build_key_book(settings))
    async with running_proxy(settings, enforcement=enforcement, gate=gate) as proxy:
        control = create_control_app(
            settings, enforcement, proxy.app.emitter, metrics=proxy.app.metrics, gate=gate
        )
        # No control keys configured: the app generated the admin key into its key file.
        admin = read_key_file(settings.control_key_file)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=control),
            base_url="http://127.0.0.1:9090",
            headers={"authorization": f"Bearer {admin}"},
        ) as ctl:
            yield Replica(proxy.url, ctl, proxy.app, gate, enforcement)


async def issue(control: httpx.AsyncClient, **body: Any) -> tuple[str, str]:
    """Create a key through the control API; return (key id, key)."""
    resp = await control.post("/control/keys", json=body)
    assert resp.status_code == 201, resp.text
    data = resp.json()
    return data["key_id"], data["key"]


async def raw_records(kafka: KafkaSettings, topic: str, timeout_s: float = 3.0) -> list[bytes]:
    """Every value on `topic` up to its end offsets, as raw bytes."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), group_id=None, enable_auto_commit=False)  # type: ignore[arg-type]
    await consumer.start()
    try:
        await consumer.topics()
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[bytes] = []
        deadline = asyncio.get_running_loop().time() + timeout_s
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            assert asyncio.get_running_loop().time() < deadline, "topic not read in time"
            for records in (await consumer.getmany(timeout_ms=200)).values():
                out.extend(r.value for r in records if r.value is not None)
        return out
    finally:
        await consumer.stop()
