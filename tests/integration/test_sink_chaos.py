"""SIGKILL the sink process at random moments during a 100,000-event load: the trail stays exact."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from pathlib import Path

import pytest

from modeltrail.embedded.process import ManagedProcess
from tests.support.sink_trail import (
    make_events,
    produce,
    s3_sink_settings,
    trail_ids,
    trail_read,
    wait_for_trail,
)


def sink_process(env: dict[str, str], log: Path) -> ManagedProcess:
    return ManagedProcess(
        "sink", [sys.executable, "-m", "sinks"], log_path=log, env=env, ready=lambda: True
    )


def object_count(s3, prefix: str) -> int:  # type: ignore[no-untyped-def]
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=prefix)
    return sum(len(p.get("Contents", [])) for p in pages)


@pytest.mark.slow
async def test_sigkill_at_random_moments_keeps_trail_exact(  # type: ignore[no-untyped-def]
    kafka_settings, s3_server, s3_prefix, tmp_path
) -> None:
    events = make_events(100_000, seed=11)
    settings = s3_sink_settings(kafka_settings, s3_server, s3_prefix)
    env = {
        "MODELTRAIL_KAFKA__BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "MODELTRAIL_KAFKA__TOPIC_PREFIX": kafka_settings.topic_prefix,
        "MODELTRAIL_SINK__TARGET": settings.target,
        "MODELTRAIL_SINK__S3_ENDPOINT_URL": s3_server.endpoint,
        "MODELTRAIL_SINK__S3_ACCESS_KEY_ID": s3_server.access_key,
        "MODELTRAIL_SINK__S3_SECRET_ACCESS_KEY": s3_server.secret_key,
        "MODELTRAIL_SINK__GROUP_ID": settings.group_id,
        "MODELTRAIL_SINK__MAX_ROWS": "2500",
        "MODELTRAIL_SINK__IDLE_FLUSH_S": "0.3",
        "MODELTRAIL_SINK__SESSION_TIMEOUT_MS": "3000",
        "MODELTRAIL_SINK__HEARTBEAT_INTERVAL_MS": "500",
        "MODELTRAIL_SINK__FSYNC": "false",
    }
    rng = random.Random()
    load = asyncio.create_task(produce(kafka_settings, events, rate=4000))
    proc = sink_process(env, tmp_path / "sink.log").start()
    kills = 0
    try:
        while kills < 5 or not load.done():
            # Kill only once this incarnation has written something, at a random moment after.
            before = await asyncio.to_thread(object_count, s3_server, s3_prefix)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if await asyncio.to_thread(object_count, s3_server, s3_prefix) > before:
                    break
                assert proc.alive, proc.tail()
                await asyncio.sleep(0.2)
            await asyncio.sleep(rng.uniform(0.0, 1.5))
            proc.kill()
            kills += 1
            proc = sink_process(env, tmp_path / "sink.log").start()
        await load
        await wait_for_trail(settings, len(events), timeout_s=90)
    finally:
        load.cancel()
        code = proc.stop()
    assert code == 0, f"exit code {code}:\n{proc.tail(60)}"
    assert kills >= 5
    rows, distinct, ids = await asyncio.to_thread(trail_ids, settings)
    assert ids == {e.event_id for e in events}
    assert distinct == len(events) <= rows  # raw files may share records after a kill
    assert await asyncio.to_thread(trail_read, settings) == (len(events), len(events))
