"""A broker that lost its topics starts offsets at 0 again: the trail keeps every older file.

Found on main: the new incarnation's files got the old keys (`<topic>+<partition>+<offset>`)
and replaced them, so the whole trail written before a broker crash was gone.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from modeltrail.embedded.process import ManagedProcess
from schemas import KafkaSettings
from schemas.kafka import ensure_topics
from sinks.consumer import Sink
from sinks.keys import parse_key
from sinks.settings import SinkSettings
from tests.support.polling import wait_until
from tests.support.sink_trail import make_events, produce, s3_sink_settings, trail_ids, trail_read


async def _archive(settings: SinkSettings, n: int) -> Sink:
    sink = Sink(settings)
    task = asyncio.create_task(sink.run())
    await wait_until(lambda: sink.stats.events >= n or task.done(), 60, f"{n} events archived")
    sink.stop()
    await task
    return sink


async def test_broker_reset_keeps_every_file_of_the_previous_incarnation(  # type: ignore[no-untyped-def]
    broker_factory: Callable[[int | None], ManagedProcess], s3_server, s3_prefix
) -> None:
    broker = broker_factory(None)
    address: str = broker.address  # type: ignore[attr-defined]
    kafka = KafkaSettings(bootstrap_servers=address, topic_prefix=f"r{uuid.uuid4().hex[:8]}.")
    settings = s3_sink_settings(kafka, s3_server, s3_prefix, idle_flush_s=0.3, fsync=False)
    # Same sessions, same hours: the second incarnation's files land beside the first's.
    before, after = make_events(2_000, seed=3), make_events(2_000, seed=3)
    await ensure_topics(kafka)
    await produce(kafka, before)
    await _archive(settings, len(before))
    keys_before = set(await asyncio.to_thread(_keys, s3_server, s3_prefix))

    broker.kill()  # memory storage: topics, offsets and the group are gone with it
    broker_factory(int(address.rsplit(":", 1)[1]))
    await ensure_topics(kafka)
    await produce(kafka, after)
    second = await _archive(settings, len(after))

    keys_after = set(await asyncio.to_thread(_keys, s3_server, s3_prefix))
    assert keys_before < keys_after  # nothing replaced or removed...
    reused = {
        (p.topic, p.partition, p.first_offset, p.dt, p.hour) for p in map(parse_key, keys_before)
    }
    new = {
        (p.topic, p.partition, p.first_offset, p.dt, p.hour)
        for p in map(parse_key, keys_after - keys_before)
    }
    assert reused & new  # ...although offsets started over in the same hours
    assert second.stats.conflicts == 0
    rows, distinct, ids = await asyncio.to_thread(trail_ids, settings)
    assert ids == {e.event_id for e in before + after}
    assert rows == distinct == len(before) + len(after)
    assert await asyncio.to_thread(trail_read, settings) == (4_000, 4_000)


def _keys(s3, prefix: str) -> list[str]:  # type: ignore[no-untyped-def]
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=prefix)
    return [o["Key"].removeprefix(f"{prefix}/") for p in pages for o in p.get("Contents", [])]


async def test_a_running_sink_reads_the_new_log_from_its_start(  # type: ignore[no-untyped-def]
    broker_factory: Callable[[int | None], ManagedProcess], s3_server, s3_prefix
) -> None:
    """Found by `bench/chaos.py --broker-storage memory`: the sink kept (and committed) its
    position in the old log, and Tansu answers a fetch past the end with nothing, so
    every record of the new log below that position was skipped (739 acknowledged
    requests missing from the trail)."""
    broker = broker_factory(None)
    address: str = broker.address  # type: ignore[attr-defined]
    kafka = KafkaSettings(bootstrap_servers=address, topic_prefix=f"n{uuid.uuid4().hex[:8]}.")
    settings = s3_sink_settings(
        kafka, s3_server, s3_prefix, idle_flush_s=0.3, fsync=False, reset_check_s=0.5
    )
    before, after = make_events(1_500, seed=5), make_events(300, seed=6)
    await ensure_topics(kafka)
    await produce(kafka, before)
    sink = Sink(settings)
    task = asyncio.create_task(sink.run())
    try:
        await wait_until(lambda: sink.stats.events >= len(before), 60, "the old log archived")
        broker.kill()
        broker_factory(int(address.rsplit(":", 1)[1]))
        await ensure_topics(kafka)
        await produce(kafka, after)  # fewer records than the sink had read: all below it
        await wait_until(
            lambda: sink.stats.events >= len(before) + len(after) or task.done(),
            60,
            "the new log archived",
        )
    finally:
        sink.stop()
        await task
    assert sink.stats.log_resets >= 1
    rows, distinct, ids = await asyncio.to_thread(trail_ids, settings)
    assert ids == {e.event_id for e in before + after}
    assert rows == distinct == len(before) + len(after)
