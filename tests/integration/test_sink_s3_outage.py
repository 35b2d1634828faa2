"""S3 goes away mid-load: the sink retries, pauses its partitions, and catches up after."""

from __future__ import annotations

import asyncio
from pathlib import Path

from modeltrail.embedded.process import free_port
from modeltrail.embedded.servers import S3Process, ensure_bucket, s3_gateway
from sinks.consumer import MAX_PENDING, Sink
from sinks.settings import SinkSettings
from tests.support.polling import wait_until
from tests.support.sink_trail import make_events, produce, trail_ids


def start_s3(tmp_path: Path, port: int) -> S3Process:
    return s3_gateway(tmp_path / "seaweed", tmp_path / "s3.log", s3_port=port).start()


async def test_s3_outage_pauses_then_catches_up(kafka_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    s3 = start_s3(tmp_path, port)
    endpoint = f"http://127.0.0.1:{port}"
    ensure_bucket(endpoint, "outage", access_key="k", secret_key="s")
    settings = SinkSettings(
        kafka=kafka_settings,
        target="s3://outage/trail",
        s3_endpoint_url=endpoint,
        s3_access_key_id="k",
        s3_secret_access_key="s",  # type: ignore[arg-type]
        group_id="g-outage",
        max_rows=500,
        idle_flush_s=0.3,
        retry_max_s=0.5,
    )
    before, during = make_events(5_000, seed=1), make_events(15_000, seed=2)
    sink = Sink(settings)
    task = asyncio.create_task(sink.run())
    try:
        await produce(kafka_settings, before)
        await wait_until(lambda: sink.stats.events >= len(before), 60, "first events stored")

        s3.stop()
        await produce(kafka_settings, during)
        consumer = sink._consumer
        assert consumer is not None
        await wait_until(
            lambda: sink.stats.store_retries > 3 and consumer.paused(), 30, "paused partitions"
        )
        await asyncio.sleep(3)  # the outage lasts a while; nothing is stored meanwhile
        stored_during_outage = sink.stats.events
        assert stored_during_outage < len(before) + len(during)
        # Memory stays bounded: at most MAX_PENDING closed files plus one fetch per partition.
        for part in sink._parts.values():
            assert len(part.pending) <= MAX_PENDING + settings.fetch_max_records // 500
            assert part.buffer.buffered <= settings.max_rows

        s3 = start_s3(tmp_path, port)
        total = len(before) + len(during)
        await wait_until(lambda: sink.stats.events >= total, 90, "catch-up after the outage")
        assert not consumer.paused()
        sink.stop()
        await asyncio.wait_for(task, 30)
        rows, distinct, ids = await asyncio.to_thread(trail_ids, settings)
        assert ids == {e.event_id for e in before + during}
        assert rows == distinct == total
    finally:
        sink.stop()
        await asyncio.wait_for(task, 30)
        s3.stop()
