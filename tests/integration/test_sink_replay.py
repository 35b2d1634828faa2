"""Replays: an orphan object (stored, never committed) is kept, and partitions move between sinks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pyarrow.parquet as pq

from schemas import LLMRequest
from sinks.consumer import Sink
from sinks.object_store import LocalStore
from sinks.query import run_query
from sinks.settings import SinkSettings
from tests.support.polling import wait_until
from tests.support.sink_trail import make_events, produce, trail_ids, trail_read


class CrashAfterFirstPut(LocalStore):
    """Stores the object, then hangs: the process 'dies' between upload and commit."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, fsync=False)
        self.stored = asyncio.Event()

    async def put(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        await super().put(key, data, if_absent=if_absent)
        self.stored.set()
        await asyncio.Event().wait()


async def test_orphan_is_kept_and_read_once_when_the_replay_cuts_differently(  # type: ignore[no-untyped-def]
    kafka_settings, tmp_path
) -> None:
    events = [e for e in make_events(4_000, seed=21) if isinstance(e, LLMRequest)][:1_000]
    base = dict(
        kafka=kafka_settings, target=str(tmp_path), group_id="g-orphan", tables=["requests"]
    )
    await produce(kafka_settings, events)

    crashing = CrashAfterFirstPut(tmp_path)
    first = Sink(SinkSettings(**base, max_rows=10_000, idle_flush_s=0.3), store=crashing)  # type: ignore[arg-type]
    task = asyncio.create_task(first.run())
    await asyncio.wait_for(crashing.stored.wait(), 30)
    task.cancel()  # nothing was committed
    await asyncio.gather(task, return_exceptions=True)
    # One orphan per partition: each partition's first upload, never committed.
    orphans = {p: pq.read_metadata(p).num_rows for p in tmp_path.rglob("*.parquet")}
    assert 1 <= len(orphans) <= kafka_settings.partitions
    assert max(orphans.values()) > 97

    # The replay runs with another boundary rule (a config change across the crash).
    second = Sink(SinkSettings(**base, max_rows=97, idle_flush_s=0.3, fsync=False))  # type: ignore[arg-type]
    task = asyncio.create_task(second.run())
    await wait_until(lambda: second.stats.events >= len(events) or task.done(), 60, "replay")
    second.stop()
    await task

    for path, rows_before in orphans.items():  # never replaced by the replay's shorter files
        assert pq.read_metadata(path).num_rows == rows_before
    trail = SinkSettings(target=str(tmp_path))
    rows, distinct, ids = await asyncio.to_thread(trail_ids, trail)
    assert ids == {e.event_id for e in events}
    assert distinct == len(events)
    # The orphans and the replay's next files overlap; the views read each event once.
    assert rows >= len(events) + sum(rows_before - 97 for rows_before in orphans.values())
    _, counted = await asyncio.to_thread(
        run_query, trail, "SELECT count(*), count(DISTINCT event_id) FROM requests"
    )
    assert counted == [(len(events), len(events))]


async def test_partitions_move_between_two_sinks_without_loss_read_once(  # type: ignore[no-untyped-def]
    kafka_settings, tmp_path
) -> None:
    events = make_events(30_000, seed=5)
    settings = SinkSettings(
        kafka=kafka_settings,
        target=str(tmp_path),
        group_id="g-two",
        max_rows=700,
        idle_flush_s=0.3,
        fsync=False,
        session_timeout_ms=3000,
        heartbeat_interval_ms=500,
    )
    load = asyncio.create_task(produce(kafka_settings, events, rate=3_000))
    a, b = Sink(settings), Sink(settings)
    task_a = asyncio.create_task(a.run())
    await wait_until(lambda: a.stats.files > 0, 30, "sink a writing")
    task_b = asyncio.create_task(b.run())  # joins: partitions are rebalanced
    await wait_until(lambda: b.stats.files > 0, 30, "sink b writing")
    a.stop()  # leaves mid-load: its partitions move to b
    await task_a
    await load
    await wait_until(lambda: a.stats.events + b.stats.events >= len(events), 60, "all events")
    b.stop()
    await task_b
    rows, distinct, ids = await asyncio.to_thread(trail_ids, settings)
    assert ids == {e.event_id for e in events}
    # A file whose commit the rebalance refused stays; the new owner may cut its
    # replay elsewhere, so raw files can share records. No file was replaced, and
    # the views read every event once.
    assert distinct == len(events) <= rows
    assert await asyncio.to_thread(trail_read, settings) == (len(events), len(events))
