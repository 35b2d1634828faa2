"""A failure retrying cannot fix is dead-lettered and the partition goes on (no stall)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from schemas import DeadLetter, KafkaSettings, decode
from sinks.consumer import Sink
from sinks.errors import ConfigError
from sinks.object_store import LocalStore
from sinks.settings import SinkSettings
from tests.support.polling import wait_until
from tests.support.sink_trail import make_events, produce


class RefusesViolations(LocalStore):
    """A directory that refuses, for good, every object of the violations table."""

    async def put(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        if "/violations/" in f"/{key}":
            raise ConfigError(f"refused: {key}")
        await super().put(key, data, if_absent=if_absent)


async def read_letters(kafka: KafkaSettings, n: int) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(
        kafka.topics.deadletter, auto_offset_reset="earliest", **kafka.client_kwargs()
    )
    await consumer.start()
    letters: list[DeadLetter] = []
    try:
        while len(letters) < n:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=500), 20)
            for records in batch.values():
                letters += [decode(r.value) for r in records]  # type: ignore[misc]
    finally:
        await consumer.stop()
    return letters


async def test_a_refused_file_is_dead_lettered_and_later_files_still_land(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    settings = SinkSettings(
        kafka=kafka_settings,
        target=str(tmp_path / "trail"),
        group_id="g-give-up",
        idle_flush_s=0.2,
        fsync=False,
        retry_initial_s=0.05,
    )
    first, second = make_events(200, seed=11), make_events(200, seed=12)
    sink = Sink(settings, store=RefusesViolations(tmp_path / "trail", fsync=False))
    task = asyncio.create_task(sink.run())
    try:
        await produce(kafka_settings, first)
        await wait_until(lambda: sink.stats.events >= len(first), 30, "first batch")
        refused = sink.stats.dead_letters
        await produce(kafka_settings, second)
        await wait_until(lambda: sink.stats.events >= 400, 30, "second batch after a refusal")
        assert not task.done()
    finally:
        sink.stop()
        await task
    assert refused >= 1 and sink.stats.store_retries == 0  # given up at once, not retried
    letters = await read_letters(kafka_settings, sink.stats.dead_letters)
    assert all(d.topic == kafka_settings.topics.violations for d in letters)
    assert all("not stored" in d.reason and "refused" in d.reason for d in letters)
    trail = tmp_path / "trail"
    stored = {p.relative_to(trail).parts[0] for p in trail.rglob("*.parquet")}
    assert "violations" not in stored and "requests" in stored
