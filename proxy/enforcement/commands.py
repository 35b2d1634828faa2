"""Followers of the command and violation topics: aiokafka consumers with no group.

Every proxy replica needs every session command, so there is no consumer group
and no committed offset: the compacted `session.commands` topic is read from
the beginning at each start-up (the latest command per session survives
compaction), then followed live. `start()` returns only once the replay has
reached the end of each partition as the first fetch saw it, so a replica never
serves a request before it knows the kills that were in force when it came up.

The end of a partition is the high watermark of a fetch response, never a
ListOffsets(latest) answer: Tansu 0.6 answers that with the base offset of the
last record batch plus one (below the end when the last batch holds several
records), and with its `s3://` storage it can stay below the end for good. A
replay that trusted it stopped before the last records, and the reset check
below saw "offsets went back" on every pass.

The violation follower starts from a look-back instead (`lookback_s`): it seeks
each partition to `offsets_for_times(now - lookback_s)` and replays up to the end
before `start()` returns, skipping records whose timestamp is older (Tansu
answers a timestamp lookup with the earliest offset, so the seek alone is not
enough there; on Apache Kafka it skips the older records outright).

A broker reset (see `schemas.resets`) is checked for with the
partition check, every couple of seconds, in a task beside the fetch loop: a
follower whose log was replaced seeks those partitions to the beginning of the
new log, counts `resets` and calls `on_reset` (the enforcement service publishes
its kept operator commands again there).

Delivery: at-least-once into the handler (a record can be seen again after a
reconnect); handlers must be idempotent, which the kill registry is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from proxy.enforcement.errors import CommandTopicMissing, ReplayTimeout
from proxy.tasks import cancel_and_wait
from schemas.kafka import stop_consumer
from schemas.resets import ResetWatch
from schemas.settings import KafkaSettings

__all__ = ["RecordHandler", "ResetHandler", "TopicFollower"]

log = logging.getLogger(__name__)

_PARTITION_CHECK_S = 2.0

RecordHandler = Callable[[ConsumerRecord[bytes, bytes]], Awaitable[None]]
ResetHandler = Callable[[], Awaitable[None]]


class TopicFollower:
    """Read every partition of one topic without a group; hand each record to `handler`."""

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        handler: RecordHandler,
        *,
        from_beginning: bool,
        fetch_max_wait_ms: int = 5,
        replay_timeout_s: float = 30.0,
        lookback_s: float = 0.0,
        on_reset: ResetHandler | None = None,
    ) -> None:
        self._kafka = kafka
        self.topic = topic
        self._handler = handler
        self._from_beginning = from_beginning
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._replay_timeout_s = replay_timeout_s
        self._lookback_s = lookback_s
        self._on_reset = on_reset
        self._resets = ResetWatch(kafka)
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.records = 0
        self.errors = 0
        self.replayed = 0
        self.resets = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Assign all partitions, replay up to the current end offsets, then follow live.

        Raises:
            CommandTopicMissing: the topic does not exist by the replay deadline.
            ReplayTimeout: the broker is unreachable, or the replay did not reach
                the end offsets in time.
        """
        if self._consumer is not None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._replay_timeout_s
        consumer = await self._connect(deadline)
        try:
            tps = await self._partitions(consumer, deadline)
            consumer.assign(tps)
            if self._from_beginning:
                await consumer.seek_to_beginning(*tps)
                await self._replay(consumer, deadline)
            elif self._lookback_s > 0:
                since_ms = int((time.time() - self._lookback_s) * 1000)
                await self._seek_back(consumer, tps, since_ms)
                await self._replay(consumer, deadline, since_ms=since_ms)
            else:
                await consumer.seek_to_end(*tps)
                for tp in tps:  # resolve positions now: later records are not missed
                    await consumer.position(tp)
        except KafkaError as exc:
            await stop_consumer(consumer)
            raise ReplayTimeout(f"reading {self.topic!r} failed: {exc}") from exc
        except BaseException:
            await stop_consumer(consumer)
            raise
        self._consumer = consumer
        self._task = asyncio.create_task(self._follow(consumer), name=f"follow:{self.topic}")
        log.info("topic_follow_started", extra={"topic": self.topic, "replayed": self.replayed})

    async def stop(self) -> None:
        """Stop following; idempotent."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        watcher, self._watcher = self._watcher, None
        await cancel_and_wait(watcher)
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await stop_consumer(consumer)
        await self._resets.close()

    async def _connect(self, deadline: float) -> AIOKafkaConsumer:
        loop = asyncio.get_running_loop()
        while True:
            consumer = AIOKafkaConsumer(
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest" if self._from_beginning else "latest",
                fetch_max_wait_ms=self._fetch_max_wait_ms,
                **self._kafka.client_kwargs(),  # type: ignore[arg-type]
            )
            try:
                await consumer.start()
                return consumer
            except KafkaError as exc:
                await stop_consumer(consumer)
                if loop.time() + 0.5 > deadline:
                    raise ReplayTimeout(
                        f"broker {self._kafka.bootstrap_servers} unreachable: {exc}"
                    ) from exc
                await asyncio.sleep(0.5)

    async def _partitions(
        self, consumer: AIOKafkaConsumer, deadline: float
    ) -> list[TopicPartition]:
        loop = asyncio.get_running_loop()
        while True:
            try:
                await consumer.topics()  # refreshes metadata
            except KafkaError as exc:
                log.warning("topic_metadata_failed", extra={"topic": self.topic, "error": str(exc)})
            parts = consumer.partitions_for_topic(self.topic)
            if parts:
                return [TopicPartition(self.topic, p) for p in sorted(parts)]
            if loop.time() > deadline:
                raise CommandTopicMissing(f"topic {self.topic!r} does not exist")
            await asyncio.sleep(0.2)

    async def _seek_back(
        self, consumer: AIOKafkaConsumer, tps: list[TopicPartition], since_ms: int
    ) -> None:
        """Seek each partition to its first record at or after `since_ms` (or its end)."""
        found = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
        for tp in tps:
            hit = found.get(tp)
            if hit is None:  # (a ListOffsets end: records before it are older, skipped)
                await consumer.seek_to_end(tp)
            else:
                consumer.seek(tp, hit.offset)

    async def _replay(
        self, consumer: AIOKafkaConsumer, deadline: float, *, since_ms: int | None = None
    ) -> None:
        """Hand every record from the positions up to the end the first fetch reports."""
        loop = asyncio.get_running_loop()
        ends: dict[TopicPartition, int] = {}
        pending = set(consumer.assignment())
        while pending:
            for tp in list(pending):
                if tp not in ends and (highwater := consumer.highwater(tp)) is not None:
                    ends[tp] = highwater
                if tp in ends and await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
            if not pending:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise ReplayTimeout(
                    f"replay of {self.topic!r} did not reach the end offsets in "
                    f"{self._replay_timeout_s:g}s"
                )
            # short waits: an empty partition's first fetch (its end) comes back at once
            batch = await consumer.getmany(*pending, timeout_ms=int(min(remaining, 0.05) * 1000))
            for records in batch.values():
                for record in records:
                    if since_ms is not None and 0 <= record.timestamp < since_ms:
                        continue
                    await self._handle(record)
                    self.replayed += 1

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        # The partition and reset checks run beside the fetch loop, never in it: each
        # costs broker round trips (metadata, a probe fetch per partition) that held
        # back the kills arriving meanwhile (p99 delivery 109 -> 72 ms on s3 storage).
        # (aiokafka drops a fetch answer for a position that a seek moved meanwhile.)
        watch = asyncio.create_task(self._watch(consumer), name=f"watch:{self.topic}")
        self._watcher = watch  # `stop` makes sure it is gone, even if it shrugs off a cancel
        try:
            while True:
                try:
                    batch = await consumer.getmany(timeout_ms=500)
                except KafkaError as exc:  # broker gone or restarting: keep trying
                    self.errors += 1
                    log.warning(
                        "topic_follow_failed", extra={"topic": self.topic, "error": str(exc)}
                    )
                    await asyncio.sleep(1.0)
                    continue
                for records in batch.values():
                    for record in records:
                        await self._handle(record)
        finally:
            watch.cancel()

    async def _watch(self, consumer: AIOKafkaConsumer) -> None:
        """Every couple of seconds: follow new partitions, notice a replaced log."""
        while True:
            await asyncio.sleep(_PARTITION_CHECK_S)
            try:
                await self._reassign(consumer)
                await self._check_reset(consumer)
            except KafkaError as exc:  # the next pass tries again
                log.warning("topic_check_failed", extra={"topic": self.topic, "error": str(exc)})

    async def _reassign(self, consumer: AIOKafkaConsumer) -> None:
        """Follow partitions that appeared since start (a restarted in-memory broker
        may recreate the topic with another partition count)."""
        await consumer.topics()
        parts = consumer.partitions_for_topic(self.topic) or set()
        assigned = {tp.partition for tp in consumer.assignment()}
        if not parts or parts <= assigned:
            return
        known = {
            tp: await consumer.position(tp) for tp in consumer.assignment() if tp.partition in parts
        }
        tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        for tp in tps:
            if tp in known:
                consumer.seek(tp, known[tp])
            elif self._from_beginning:
                await consumer.seek_to_beginning(tp)
            else:
                await consumer.seek_to_end(tp)
        log.info("topic_partitions_changed", extra={"topic": self.topic, "partitions": len(tps)})

    async def _check_reset(self, consumer: AIOKafkaConsumer) -> None:
        """Re-read partitions whose log was replaced from the new log's beginning."""
        replaced = await self._resets.check(consumer)
        if not replaced:
            return
        await consumer.seek_to_beginning(*replaced)
        self.resets += 1
        log.warning(
            "topic_reset_detected",
            extra={"topic": self.topic, "partitions": [tp.partition for tp in replaced]},
        )
        if self._on_reset is not None:
            try:
                await self._on_reset()
            except Exception:  # the re-read goes on whatever the hook does
                log.exception("topic_reset_hook_failed", extra={"topic": self.topic})

    async def _handle(self, record: ConsumerRecord[bytes, bytes]) -> None:
        self.records += 1
        self._resets.seen(record)
        try:  # tombstones (value None) too: the handler decides what they mean
            await self._handler(record)
        except Exception:  # one bad record must not stop enforcement
            self.errors += 1
            log.exception(
                "record_handler_failed",
                extra={
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                },
            )
