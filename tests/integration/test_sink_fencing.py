"""Fencing: a sink frozen mid-upload past its session must not overwrite the new owner's files.

Sink A is frozen (its event loop blocked, as in a long GC pause, SIGSTOP or a VM
stall) inside its first upload. Its session expires, sink B takes the partitions
over, replays from the committed offsets and writes and commits longer files.
Then A wakes up and finishes its upload. Found on main: A's shorter file replaced
B's under the same key, and the records only B's file held were gone for good
(B had committed past them).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from schemas import KafkaSettings, LLMRequest
from sinks.consumer import Sink
from sinks.object_store import LocalStore
from sinks.settings import SinkSettings
from tests.support.polling import wait_until
from tests.support.sink_trail import make_events, produce, trail_ids, trail_read

MAX_FREEZE_S = 60.0


class FreezeOnFirstPut(LocalStore):
    """Blocks the caller's whole event loop in the first write until `thaw`, then writes."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, fsync=False)
        self.frozen = threading.Event()
        self.thaw = threading.Event()
        self.woke = threading.Event()

    async def put(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        if not self.frozen.is_set():
            self.frozen.set()
            # Blocking on purpose: no heartbeat, no rebalance callback, as in a stall.
            self.thaw.wait(MAX_FREEZE_S)
            self.woke.set()
        await super().put(key, data, if_absent=if_absent)


def _run_in_thread(sink: Sink) -> tuple[threading.Thread, list[asyncio.AbstractEventLoop]]:
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        loops.append(asyncio.get_running_loop())
        await sink.run()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    return thread, loops


async def test_a_sink_frozen_past_its_session_never_replaces_the_new_owners_file(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    events = [e for e in make_events(4_000, seed=9) if isinstance(e, LLMRequest)]
    first, second = events[:600], events[600:]
    base = dict(
        kafka=kafka_settings,
        target=str(tmp_path),
        group_id="g-fence",
        tables=["requests"],
        fsync=False,
        session_timeout_ms=3_000,
        heartbeat_interval_ms=300,
        max_rows=100_000,
    )
    await produce(kafka_settings, first)
    frozen_store = FreezeOnFirstPut(tmp_path)
    a = Sink(SinkSettings(**base, idle_flush_s=0.2), store=frozen_store)  # type: ignore[arg-type]
    thread, loops = _run_in_thread(a)
    await wait_until(frozen_store.frozen.is_set, 30, "sink a uploading its first file")
    # While A is frozen: more records, and B takes the partitions over once A's session expires.
    await produce(kafka_settings, second)
    b = Sink(SinkSettings(**base, idle_flush_s=1.0))  # type: ignore[arg-type]
    task_b = asyncio.create_task(b.run())
    await wait_until(lambda: b.stats.events >= len(events), 60, "b took over and committed all")
    frozen_store.thaw.set()
    await wait_until(frozen_store.woke.is_set, 10, "sink a woke up")
    await asyncio.sleep(1.0)  # A's late upload lands (or not) before it rejoins
    loops[0].call_soon_threadsafe(a.stop)
    await asyncio.to_thread(thread.join, 60)
    b.stop()
    await task_b

    trail = SinkSettings(target=str(tmp_path))
    _, distinct, ids = await asyncio.to_thread(trail_ids, trail)
    assert ids == {e.event_id for e in events}, f"{len(events) - len(ids)} events lost"
    assert distinct == len(events)
    assert await asyncio.to_thread(trail_read, trail) == (len(events), len(events))
    # A's late file met B's under the same key: kept (B's holds more), nothing replaced.
    assert a.stats.conflicts == b.stats.conflicts == 0  # same incarnation: no stranger
