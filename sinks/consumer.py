"""The sink: an aiokafka consumer group that writes the event topics as Parquet files.

Delivery guarantee (exactly-once trail, by construction):

* Every event of an archived topic lands in exactly one object, even when the
  process is killed with SIGKILL at any moment, S3 goes away, or partitions move.
* Offsets are committed only after the object is written (never auto-commit).
* A file is the contiguous offset range [start, end] of one partition. Its key
  is a function of (table, topic, partition, start, hour and id of its first
  event: unique per topic incarnation, `sinks.keys`);
  `start` is the offset committed when the previous file was done. Boundaries
  inside a run come from the input only (`sinks.batch`: rows, input bytes,
  event-time span, hour), so a replay cuts the same files and writes the same keys.
* The idle flush and the shutdown flush are time-driven and so NOT a function
  of the input. They stay safe because each partition keeps at most ONE object
  that is written but not yet committed, and that object always starts at the
  committed offset: files of a partition are uploaded strictly one after the
  other, and the next upload waits until the previous commit succeeded. After
  a crash, the replay starts at the committed offset and its first file gets
  that very key; no other orphan can exist, hence no gap. When the replay cuts
  its first file elsewhere than the orphan, the two overlap (see below): the
  raw files then hold some records twice, the views read them once.
* Objects are never replaced: `sinks.publish` writes if absent; a key that
  holds other records keeps them, and the new file goes beside it under a
  conflict key unless the stored one already holds all its records (counted,
  logged). Records two files share are read once by the `event_id` views.
* Fencing: before an upload that comes more than half a session after the
  partition's last commit (this sink may have been paused past its session or
  cut off from the broker), the group's committed offset is read back; when it
  is past the file's start, another member owns the partition and got further,
  so the file is dropped, not uploaded. (A late upload that slips through is
  still harmless: `sinks.publish` never replaces a stored file.)
* On revocation the partition's in-flight upload or commit is awaited (an upload
  running in a thread cannot be cancelled, and must not land after the next owner
  wrote the same key; aiokafka shields a commit, so a cancelled one still lands
  and must be counted) and its buffers are dropped; the next owner replays from
  the committed offset. Records fetched under an assignment that has since been
  revoked are dropped too (assignment epochs), never written.
* Retriable failures (`sinks.errors.is_retriable`: store outages, broker errors)
  are retried with exponential backoff, forever; a partition with files waiting
  is paused, so memory stays bounded (per partition at most the open file plus
  `MAX_PENDING` closed ones, each at most `max_bytes` of input).
* A non-retriable failure (a file that cannot be encoded, a key the store
  refuses) is not retried: the file's offset range goes to the dead-letter topic
  with the error and the partition goes on (committed past it), so the gap is on
  record and nothing else stalls behind it.
* Records that are not valid events go to the dead-letter topic (at-least-once:
  sent before the commit of their file, so a replay may send them again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from schemas import TABLES, arrow_schema, encode
from schemas.kafka import stop_consumer
from schemas.resets import ResetWatch
from sinks.batch import Limits
from sinks.deadletter import dead_letters, unstored_file
from sinks.decode import Decoded, decode_values
from sinks.errors import is_retriable
from sinks.object_store import ObjectStore, open_store, parse_target
from sinks.partition import ClosedFile, PartitionBuffer
from sinks.publish import publish
from sinks.settings import SinkSettings
from sinks.stats import SinkStats

__all__ = ["MAX_PENDING", "Sink"]

log = logging.getLogger(__name__)

#: Closed files a partition may hold before it is paused.
MAX_PENDING = 2

#: One delivery step of a file (store, dead-letter, commit), retried by `Sink._retry`.
Step = Callable[[], Awaitable[None]]
#: What `Sink._retry` reports: True done, False stop (revoked, commit refused), or the
#: non-retriable error the step failed with (the caller dead-letters and goes on).
Attempt = bool | Exception


@dataclass(eq=False)
class _Partition:
    tp: TopicPartition
    buffer: PartitionBuffer
    pending: deque[ClosedFile] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None
    inflight: asyncio.Future[None] | None = None
    revoked: bool = False
    last_input: float = field(default_factory=time.monotonic)
    last_commit: float = field(default_factory=time.monotonic)
    opened: float = field(default_factory=time.monotonic)


@dataclass(frozen=True, eq=False)
class _Fetched:
    epoch: int | None  # the assignment the records were fetched under (None: rebalancing)
    batch: dict[TopicPartition, list[ConsumerRecord]]
    parse: asyncio.Future[dict[TopicPartition, Decoded]]


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.sink._revoke(list(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.sink._assigned()
        log.info("partitions_assigned", extra={"partitions": [str(tp) for tp in assigned]})


class Sink:
    """One sink process: consume, cut files, store, commit. `await sink.run()` until `stop()`."""

    def __init__(self, settings: SinkSettings, store: ObjectStore | None = None) -> None:
        self.settings = settings
        if store is None:
            store, self.target = open_store(settings)
        else:
            self.target = parse_target(settings.target)
        self.store: ObjectStore = store
        topics = settings.kafka.topics
        self._table_of: dict[str, str] = {}
        for table in settings.tables:
            model = TABLES[table]
            self._table_of[topics.by_model()[model]] = table
        self.limits = Limits(
            settings.max_rows, settings.max_bytes, int(settings.max_span_s * 1_000_000)
        )
        self.stats = SinkStats()
        self._parts: dict[TopicPartition, _Partition] = {}
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        # Assignment epochs: records are only applied under the assignment they were
        # fetched in. The revoke callback closes the gate (None); the assign callback
        # opens a new epoch. aiokafka runs the assign callback right after it installs
        # the assignment and before any position of it is known, so records of the new
        # assignment can only be returned under the new epoch.
        self._epoch = 0
        self._gate: int | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._resets = ResetWatch(settings.kafka)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """Ask `run` to flush what it holds, commit, and return."""
        self._stopping.set()

    async def _watch_for_reset(self, consumer: AIOKafkaConsumer) -> None:
        """Read a log again from its start once it was replaced under this sink.

        A broker that restarted empty starts offsets at 0 again, while this consumer
        waits at its old position (or at the old log's offsets it committed since:
        Tansu takes them) and would skip the new log up to there. The replaced
        partitions are dropped like revoked ones (what the old log still had in open
        files went with it), sought to the start and that start committed. Files
        written keep their keys: one tag per incarnation (`sinks.keys`).
        """
        while not self._stopping.is_set():
            await asyncio.sleep(self.settings.reset_check_s)
            try:
                replaced = await self._resets.check(consumer)
                if replaced:
                    await self._reread(consumer, replaced)
            except KafkaError as exc:
                log.info("reset_check_failed", extra={"error": str(exc)})

    async def _reread(self, consumer: AIOKafkaConsumer, replaced: list[TopicPartition]) -> None:
        log.error("broker_reset_detected", extra={"partitions": [str(tp) for tp in replaced]})
        self.stats.log_resets += 1
        await self._revoke(replaced)
        starts = await consumer.beginning_offsets(replaced)
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        self._assigned()  # records fetched before the seek belong to the closed epoch
        await consumer.commit(starts)

    async def run(self) -> None:
        """Consume until `stop()`; then flush every open file and wait until all are committed."""
        s = self.settings
        kw = s.kafka.client_kwargs()
        self._consumer = consumer = AIOKafkaConsumer(
            **kw,  # type: ignore[arg-type]
            group_id=s.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=s.fetch_max_wait_ms,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=s.heartbeat_interval_ms,
        )
        if s.dead_letter:
            self._producer = AIOKafkaProducer(**kw, acks="all")  # type: ignore[arg-type]
            await self._producer.start()
        consumer.subscribe(list(self._table_of), listener=_Listener(self))
        await consumer.start()
        log.info("sink_started", extra={"target": self.target.url, "topics": list(self._table_of)})
        watch = None
        if s.reset_check_s > 0:
            watch = asyncio.create_task(self._watch_for_reset(consumer))
        try:
            # Two-stage pipeline: batch n is parsed in a thread (Arrow releases the
            # GIL) while batch n+1 is fetched; batches are applied strictly in order.
            previous: _Fetched | None = None
            while not self._stopping.is_set():
                batch = await consumer.getmany(timeout_ms=200, max_records=s.fetch_max_records)
                for records in batch.values():
                    self._resets.seen(records[0])
                epoch = self._gate  # no await since getmany checked the assignment
                current = None
                if batch:
                    parse = asyncio.ensure_future(asyncio.to_thread(self._decode, batch))
                    current = _Fetched(epoch, batch, parse)
                if previous is not None:
                    await self._apply(previous)
                elif current is None:
                    async with self._lock:
                        self._housekeeping()
                previous = current
            if previous is not None:
                await self._apply(previous)
            async with self._lock:
                for part in list(self._parts.values()):
                    self._enqueue(part, part.buffer.flush())
            await self._drain_all()
        finally:
            if watch is not None:
                watch.cancel()
            for part in self._parts.values():
                if part.task is not None:
                    part.task.cancel()
            await self._resets.close()
            await stop_consumer(consumer)
            if self._producer is not None:
                await self._producer.stop()
            await self.store.close()
            log.info("sink_stopped", extra={"events": self.stats.events, "files": self.stats.files})

    async def _apply(self, fetched: _Fetched) -> None:
        """Add a parsed batch to the open files (unless a rebalance came in between)."""
        assert self._consumer is not None
        decoded = await fetched.parse
        # Outside the lock: a revocation must never wait on a broker round trip.
        committed = {
            tp: await self._consumer.committed(tp) for tp in fetched.batch if tp not in self._parts
        }
        async with self._lock:
            if fetched.epoch is None or fetched.epoch != self._gate:
                return  # fetched under a previous assignment: positions were reset since
            for tp, records in fetched.batch.items():
                self._ingest(tp, records, committed.get(tp), decoded[tp])
            self._housekeeping()

    def _decode(
        self, batch: dict[TopicPartition, list[ConsumerRecord]]
    ) -> dict[TopicPartition, Decoded]:
        out = {}
        for tp, records in batch.items():
            model = TABLES[self._table_of[tp.topic]]
            values = [r.value for r in records]
            out[tp] = decode_values(values, arrow_schema(model), model.model_fields["type"].default)
        return out

    def _ingest(
        self,
        tp: TopicPartition,
        records: list[ConsumerRecord],
        committed: int | None,
        decoded: Decoded,
    ) -> None:
        part = self._parts.get(tp)
        if part is None:
            table = self._table_of[tp.topic]
            model = TABLES[table]
            buffer = PartitionBuffer(
                table=table,
                topic=tp.topic,
                partition=tp.partition,
                schema=arrow_schema(model),
                expected_type=model.model_fields["type"].default,
                limits=self.limits,
            )
            part = self._parts[tp] = _Partition(tp, buffer)
        was_empty = not part.buffer.buffered
        for done in part.buffer.ingest(records, committed, decoded):
            self._enqueue(part, done)
        part.last_input = time.monotonic()
        if was_empty or not part.buffer.buffered:
            part.opened = part.last_input
        if self.stats.first_input is None:
            self.stats.first_input = time.perf_counter()

    def _housekeeping(self) -> None:
        """Time-driven flushes (safe: see the module docstring) and stalled deliveries."""
        now = time.monotonic()
        s = self.settings
        for part in self._parts.values():
            if part.buffer.buffered and (
                now - part.last_input >= s.idle_flush_s or now - part.opened >= s.max_open_s
            ):
                self._enqueue(part, part.buffer.flush())
            elif part.pending and (part.task is None or part.task.done()):
                part.task = asyncio.create_task(self._deliver_all(part))

    def _enqueue(self, part: _Partition, done: ClosedFile | None) -> None:
        if done is None:
            return
        part.pending.append(done)
        if len(part.pending) >= MAX_PENDING and self._consumer is not None:
            with contextlib.suppress(IllegalStateError):
                self._consumer.pause(part.tp)
        if part.task is None or part.task.done():
            part.task = asyncio.create_task(self._deliver_all(part))

    async def _deliver_all(self, part: _Partition) -> None:
        """Store then commit each closed file of one partition, strictly in order."""
        while part.pending and not part.revoked:
            done = part.pending[0]
            if not await self._deliver(part, done):
                return
            part.pending.popleft()
            if len(part.pending) < MAX_PENDING and self._consumer is not None and not part.revoked:
                with contextlib.suppress(IllegalStateError):
                    self._consumer.resume(part.tp)

    async def _deliver(self, part: _Partition, done: ClosedFile) -> bool:
        s = self.settings
        key = done.key(self.target.prefix)
        if key is not None and not done.stored:
            schema = arrow_schema(TABLES[done.table])

            fenced = False

            async def put() -> None:
                nonlocal fenced
                if self._stalled(part) and await self._fenced(part, done):
                    fenced = True
                    return
                data = await asyncio.to_thread(done.encode, schema, s.compression_level)
                outcome, where = await publish(self.store, key, data, done.metadata)
                self._count(outcome, where, done)

            stored = await self._retry(part, "store", put, shield=True)
            if stored is False:
                return False
            if fenced:
                # Another member owns it now; the rebalance that follows our stale
                # heartbeat revokes it here and resets the position. Until then: hold.
                part.revoked = True
                with contextlib.suppress(IllegalStateError):
                    self._consumer.pause(part.tp)  # type: ignore[union-attr]
                return False
            if isinstance(stored, Exception):
                done.unstored = stored
            else:
                done.stored = True
                self.stats.files += 1
                self.stats.bytes += len(done.encoded or b"")
                log.debug("batch_flushed", extra={"key": key, "rows": done.rows})
        if (done.bad or done.unstored) and self._producer is not None:
            sent = await self._retry(part, "deadletter", lambda: self._dead_letter(done))
            if sent is False:
                return False
        # Shielded like the upload: aiokafka shields the commit request itself, so a
        # cancelled commit still lands; revocation awaits it (`part.inflight`) and the
        # commit's bookkeeping runs with it, never lost to the cancellation.
        committed = await self._retry(part, "commit", lambda: self._commit(part, done), shield=True)
        return committed is not False

    def _stalled(self, part: _Partition) -> bool:
        """Long enough without a commit that the group may have moved on without us."""
        quiet_s = time.monotonic() - part.last_commit
        return quiet_s > self.settings.session_timeout_ms / 2000

    async def _fenced(self, part: _Partition, done: ClosedFile) -> bool:
        """Whether another member committed past this file's start (then it owns the partition)."""
        assert self._consumer is not None
        committed = await self._consumer.committed(part.tp)
        if committed is None or committed <= done.start_offset:
            return False
        self.stats.fenced += 1
        log.warning(
            "upload_fenced",
            extra={"partition": str(part.tp), "start": done.start_offset, "committed": committed},
        )
        return True

    def _count(self, outcome: str, where: str, done: ClosedFile) -> None:
        if outcome == "conflict":
            self.stats.conflicts += 1
            log.error(
                "object_conflict",
                extra={"key": where, "start": done.start_offset, "end": done.end_offset},
            )
        elif outcome == "set_aside":
            self.stats.set_aside += 1
            log.warning("object_set_aside", extra={"key": where, "end": done.end_offset})

    async def _retry(
        self, part: _Partition, what: str, op: Step, *, shield: bool = False
    ) -> Attempt:
        """Run `op` until it succeeds, backing off on retriable errors (see the module doc)."""
        delay = self.settings.retry_initial_s
        while not part.revoked:
            try:
                if shield:
                    part.inflight = asyncio.ensure_future(op())
                    await asyncio.shield(part.inflight)
                    part.inflight = None
                else:
                    await op()
                return True
            except (CommitFailedError, IllegalStateError):
                part.inflight = None
                log.info("commit_refused", extra={"partition": str(part.tp)})
                return False
            except Exception as exc:
                part.inflight = None
                if not is_retriable(exc):
                    log.error(
                        "step_failed_for_good",
                        extra={"op": what, "partition": str(part.tp), "error": str(exc)[:300]},
                    )
                    return exc
                self.stats.store_retries += 1
                log.warning(
                    "retrying",
                    extra={"op": what, "partition": str(part.tp), "error": str(exc)[:300]},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.retry_max_s)
        return False

    async def _commit(self, part: _Partition, done: ClosedFile) -> None:
        """Commit past the file and count it: one step, so a commit that lands is counted."""
        assert self._consumer is not None
        await self._consumer.commit({part.tp: done.commit_offset})
        part.last_commit = time.monotonic()
        self.stats.events += done.rows

    async def _dead_letter(self, done: ClosedFile) -> None:
        assert self._producer is not None
        topic = self.settings.kafka.topics.deadletter
        source, consumer = self.settings.instance_id, f"sink:{self.settings.group_id}"
        letters = dead_letters(done, source=source, consumer=consumer)
        if done.unstored is not None:
            letters.append(unstored_file(done, done.unstored, source=source, consumer=consumer))
        futures = [await self._producer.send(topic, encode(e), key=k) for k, e in letters]
        await asyncio.gather(*futures)
        self.stats.dead_letters += len(futures)

    def _assigned(self) -> None:
        self._epoch += 1
        self._gate = self._epoch

    async def _revoke(self, revoked: list[TopicPartition]) -> None:
        self._gate = None
        async with self._lock:
            for tp in revoked:
                part = self._parts.pop(tp, None)
                if part is None:
                    continue
                part.revoked = True
                if part.task is not None:
                    part.task.cancel()
                    await asyncio.gather(part.task, return_exceptions=True)
                if part.inflight is not None:
                    # Let a running upload finish before the next owner may write its key.
                    await asyncio.gather(part.inflight, return_exceptions=True)
        log.info("partitions_revoked", extra={"partitions": [str(tp) for tp in revoked]})

    async def _drain_all(self) -> None:
        tasks = [p.task for p in self._parts.values() if p.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
