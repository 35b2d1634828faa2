"""Helpers shared by the sink integration tests: realistic events, a fast producer, waits."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from schemas import (
    ChatMessage,
    EventEnvelope,
    KafkaSettings,
    LLMRequest,
    LLMResponse,
    SessionCommand,
    Violation,
    encode,
    encode_key,
)
from sinks.query import run_query
from sinks.settings import SinkSettings

TABLES = ("requests", "responses", "violations", "session_commands")


def make_events(n: int, *, sessions: int = 200, seed: int = 7) -> list[EventEnvelope]:
    """n events of the four archived types, event times spread over the last two hours."""
    rng = random.Random(seed)
    base = datetime.now(UTC) - timedelta(hours=2)
    out: list[EventEnvelope] = []
    for i in range(n):
        sid = f"s{rng.randrange(sessions):04d}"
        when = base + timedelta(milliseconds=i * 70)
        kind = i % 10
        common = {"source": "test", "session_id": sid, "time": when, "request_id": f"r{i}"}
        if kind < 5:
            out.append(
                LLMRequest(
                    **common,
                    backend="b",
                    provider="openai",
                    path="/v1/chat/completions",
                    model="m",
                    messages=[ChatMessage(role="user", content=f"q{i}")],
                )
            )
        elif kind < 9:
            out.append(
                LLMResponse(
                    **common,
                    backend="b",
                    provider="openai",
                    path="/v1/chat/completions",
                    status_code=200,
                    latency_ms=12.5,
                    total_tokens=i % 97,
                    text=f"a{i}",
                )
            )
        elif i % 20 == 9:
            out.append(
                Violation(
                    **common,
                    rule_id="pii.email",
                    owasp="LLM02",
                    severity="high",
                    action="flag",
                    enforced=True,
                    target="request",
                )
            )
        else:
            out.append(
                SessionCommand(
                    **common,
                    command="kill",
                    issuer="test",
                    decision_id=f"d{i}",
                )
            )
    return out


async def produce(
    kafka: KafkaSettings, events: list[EventEnvelope], *, rate: float | None = None
) -> None:
    """Send events (acks=all, big batches); `rate` events/s throttles to spread the load."""
    producer = AIOKafkaProducer(
        **kafka.client_kwargs(),  # type: ignore[arg-type]
        acks="all",
        linger_ms=10,
        max_batch_size=1024 * 1024,
    )
    topics = kafka.topics
    await producer.start()
    try:
        step = 2000
        t0 = time.monotonic()
        for i in range(0, len(events), step):
            futs = [
                await producer.send(topics.for_event(e), encode(e), key=encode_key(e))
                for e in events[i : i + step]
            ]
            await asyncio.gather(*futs)
            if rate:
                ahead = (i + step) / rate - (time.monotonic() - t0)
                if ahead > 0:
                    await asyncio.sleep(ahead)
    finally:
        await producer.stop()


def trail_ids(settings: SinkSettings) -> tuple[int, int, set[str]]:
    """(rows, distinct event ids, ids) over every archived table of the trail, every copy."""
    union = " UNION ALL ".join(f"SELECT event_id FROM {t}_raw" for t in TABLES)
    _, rows = run_query(settings, f"SELECT event_id FROM ({union})")
    ids = [r[0] for r in rows]
    return len(ids), len(set(ids)), set(ids)


async def wait_for_trail(settings: SinkSettings, n: int, timeout_s: float) -> None:
    """Poll the trail until it holds n distinct events."""
    deadline = time.monotonic() + timeout_s
    distinct = 0
    while time.monotonic() < deadline:
        _, distinct, _ = await asyncio.to_thread(trail_ids, settings)
        if distinct >= n:
            return
        await asyncio.sleep(1.0)
    raise AssertionError(f"trail holds {distinct}/{n} events after {timeout_s}s")


def trail_read(settings: SinkSettings) -> tuple[int, int]:
    """(rows, distinct event ids) as the query views read them (one row per event)."""
    union = " UNION ALL ".join(f"SELECT event_id FROM {t}" for t in TABLES)
    _, rows = run_query(settings, f"SELECT count(*), count(DISTINCT event_id) FROM ({union})")
    return rows[0][0], rows[0][1]


def s3_sink_settings(kafka: KafkaSettings, s3, prefix: str, **kw: object) -> SinkSettings:  # type: ignore[no-untyped-def]
    """Sink settings writing under `prefix` in the test S3 server's bucket."""
    return SinkSettings(
        kafka=kafka,
        target=f"s3://{s3.bucket}/{prefix}",
        s3_endpoint_url=s3.endpoint,
        s3_access_key_id=s3.access_key,
        s3_secret_access_key=s3.secret_key,
        s3_region=s3.region,
        group_id=f"g-{prefix}",
        **kw,
    )


async def put_trail_files(s3, prefix: str, events: list[tuple[str, EventEnvelope]]) -> None:  # type: ignore[no-untyped-def]
    """Write each (table, event) as one Parquet file where the sink would, in the test bucket."""
    from schemas.arrow import arrow_schema
    from sinks.keys import object_key
    from sinks.object_store import S3Store
    from sinks.parquet import events_table, to_parquet

    store = S3Store(
        s3.bucket,
        endpoint_url=s3.endpoint,
        region=s3.region,
        access_key_id=s3.access_key,
        secret_access_key=s3.secret_key,
    )
    try:
        for table, event in events:
            data = to_parquet(events_table([event], arrow_schema(type(event))))
            await store.put(object_key(prefix, table, f"t.{table}", 0, 0, event.time), data)
    finally:
        await store.close()


def s3_history_settings(s3, prefix: str):  # type: ignore[no-untyped-def]
    """Proxy settings whose control API reads the trail under `prefix` in the test bucket."""
    from pydantic import SecretStr

    from proxy.settings import ProxySettings

    return ProxySettings(
        history_path=f"s3://{s3.bucket}/{prefix}",
        history_s3_endpoint_url=s3.endpoint,
        history_s3_region=s3.region,
        history_s3_access_key_id=SecretStr(s3.access_key),
        history_s3_secret_access_key=SecretStr(s3.secret_key),
    )
