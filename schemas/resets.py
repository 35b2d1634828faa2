"""Notice that the log under a group-less follower was replaced (broker reset).

A broker that restarts empty (the embedded memory broker), a topic deleted and
created again, or a new broker incarnation behind the same address all restart
offsets at 0. A follower that keeps its old positions then waits for offsets
the new log reaches late or never, and skips every record before them: a kill
published at offset 0 of the new log is never applied.

`ResetWatch` remembers, per partition, the first record the follower consumed
(its *anchor*: offset, timestamp, digest of key and value) and on `check()`
reports the partitions whose log was replaced:
- the high watermark of the follower's last fetch is below its position, or
  below the one seen at the previous check (offsets went back: the consumer may
  have reset its position on an out-of-range fetch by itself; a fetch's high
  watermark, not ListOffsets(latest), which Tansu answers below the end: see
  `proxy.enforcement.commands`), or
- the record now at the anchor's offset is not the anchor (a new incarnation
  that already holds more records than the follower had read).
The anchor is read by a small probe consumer of its own, so the follower's
position is never disturbed. A probe that cannot reach the broker says nothing
(the next check tries again). Retention or compaction removing the anchor is
not a reset: the probe then finds the first later record, which becomes the
anchor.

Used by `proxy.enforcement.commands.TopicFollower` for `session.commands` and
`audit.violations` and by the sink for the topics it archives (`check`, against
their own consumers), and by the streams worker (`check_anchors`, which needs
only the anchors: the worker exits on a reset so that it restarts on the new log
with fresh state, `streams.app`; `reset_stale_commits` then sets back the commits
the old worker left past the new log's end).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from dataclasses import dataclass
from typing import Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from schemas.kafka import stop_consumer
from schemas.settings import KafkaSettings

__all__ = ["Anchor", "AnchorRecord", "ResetWatch", "anchor_of", "reset_stale_commits"]

log = logging.getLogger(__name__)

_PROBE_TIMEOUT_MS = 1000


class AnchorRecord(Protocol):
    """The parts of a consumed record an anchor is made of (aiokafka's ConsumerRecord fits)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class Anchor:
    """Enough of one record to tell it from any other at the same offset."""

    offset: int
    timestamp: int
    digest: bytes


def anchor_of(record: AnchorRecord | ConsumerRecord[bytes, bytes]) -> Anchor:
    h = hashlib.blake2b(digest_size=16)
    h.update(record.key or b"")
    h.update(b"\x00")
    h.update(record.value or b"")
    return Anchor(record.offset, record.timestamp, h.digest())


class ResetWatch:
    """Per-partition anchors and the checks that tell a replaced log."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        self._anchors: dict[TopicPartition, Anchor] = {}
        self._highwaters: dict[TopicPartition, int] = {}
        self._probe: AIOKafkaConsumer | None = None

    def seen(self, record: AnchorRecord | ConsumerRecord[bytes, bytes]) -> None:
        """Remember the first record consumed from its partition."""
        tp = TopicPartition(record.topic, record.partition)
        if tp not in self._anchors:
            self._anchors[tp] = anchor_of(record)

    def forget(self, tps: list[TopicPartition]) -> None:
        for tp in tps:
            self._anchors.pop(tp, None)

    async def check(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        """Partitions of `consumer` whose log was replaced; raises KafkaError."""
        tps = sorted(consumer.assignment())
        if not tps:
            return []
        replaced = []
        for tp in tps:
            highwater = consumer.highwater(tp)  # None before the first fetch answered
            if highwater is None:
                continue
            before = self._highwaters.get(tp, 0)
            self._highwaters[tp] = highwater
            if highwater < before or highwater < await consumer.position(tp):
                replaced.append(tp)
        replaced += await self._moved_anchors([tp for tp in tps if tp not in replaced])
        self.forget(replaced)
        return replaced

    async def check_anchors(self) -> list[TopicPartition]:
        """Partitions whose anchor record is gone or replaced (no follower consumer needed).

        A partition whose log now ends at or before its anchor's offset was replaced
        too (offsets went back). A broker that cannot be reached says nothing.
        """
        tps = sorted(self._anchors)
        if not tps:
            return []
        try:
            probe = await self._probe_consumer()
            ends: dict[TopicPartition, int] = await probe.end_offsets(tps)
        except KafkaError as exc:
            log.info("reset_probe_failed", extra={"error": str(exc)})
            await self._drop_probe()
            return []
        # ListOffsets (Tansu: the last batch's base offset + 1) can only read short, so
        # this can only say "replaced" too early; a log that kept its anchor record and
        # grew past it is not told apart by it (see `_moved_anchors` for that).
        replaced = [tp for tp in tps if ends.get(tp, 0) <= self._anchors[tp].offset]
        replaced += await self._moved_anchors([tp for tp in tps if tp not in replaced])
        self.forget(replaced)
        return replaced

    async def _moved_anchors(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        """Of `tps`, those whose record at the anchor's offset is another record."""
        replaced = []
        for tp in tps:
            anchor = self._anchors.get(tp)
            if anchor is None:
                continue
            found = await self._record_at(tp, anchor.offset)
            if found is None:
                continue
            if found.offset != anchor.offset:
                # Retention or compaction removed the anchor: the log's start moved
                # on, which is not a new log. The first record there is the anchor now.
                self._anchors[tp] = anchor_of(found)
            elif anchor_of(found) != anchor:
                replaced.append(tp)
        return replaced

    async def _record_at(
        self, tp: TopicPartition, offset: int
    ) -> ConsumerRecord[bytes, bytes] | None:
        """The first record at or after `offset` (None when unsure: broker down, slow)."""
        try:
            probe = await self._probe_consumer()
            probe.assign([tp])
            probe.seek(tp, offset)
            batch = await probe.getmany(tp, timeout_ms=_PROBE_TIMEOUT_MS, max_records=1)
        except KafkaError as exc:
            log.info("reset_probe_failed", extra={"topic": tp.topic, "error": str(exc)})
            await self._drop_probe()  # the anchors stay: the broker may be restarting
            return None
        records = batch.get(tp, [])
        return records[0] if records else None

    async def _probe_consumer(self) -> AIOKafkaConsumer:
        if self._probe is None:
            probe = AIOKafkaConsumer(
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=50,
                **self._kafka.client_kwargs(),  # type: ignore[arg-type]
            )
            try:
                await probe.start()
            except KafkaError:
                with contextlib.suppress(Exception):
                    await probe.stop()
                raise
            self._probe = probe
        return self._probe

    async def close(self) -> None:
        """Stop the probe consumer and forget the anchors; idempotent."""
        self._anchors.clear()
        self._highwaters.clear()
        await self._drop_probe()

    async def _drop_probe(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            await stop_consumer(probe)


async def reset_stale_commits(
    kafka: KafkaSettings, group_id: str, topics: list[str], *, timeout_s: float = 20.0
) -> list[TopicPartition]:
    """Set back the commits of `group_id` that lie past the end of their log; return them.

    Run before the group's consumer starts. A log replaced under a running consumer
    (the embedded memory broker restarted empty) gets its old commits: Tansu takes a
    commit from a member it does not know, and the consumer commits what it read from
    the old log. The next consumer then starts past the end of the new log, and since
    Tansu answers such a fetch with no records instead of "out of range", it waits
    there and skips every record before that offset. A commit past the end a fetch
    reports (its high watermark; ListOffsets can read short on Tansu) is set back to
    the log's start. The commit is made as a member of the group (Tansu refuses one
    from outside a group that had members), so this joins it and leaves again; a
    member that died with the old log holds the join up to its session timeout.
    What cannot be done in `timeout_s` (broker unreachable, group busy) is logged and
    left as it is.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        stale = await _stale(kafka, group_id, topics, deadline)
        if stale:
            await _commit_as_member(kafka, group_id, topics, stale, deadline)
            log.warning(
                "stale_commits_reset",
                extra={
                    "group": group_id,
                    "partitions": {f"{tp.topic}/{tp.partition}": o for tp, o in stale.items()},
                },
            )
        return sorted(stale)
    except KafkaError as exc:
        log.warning("stale_commits_unchecked", extra={"group": group_id, "error": str(exc)})
        return []


async def _stale(
    kafka: KafkaSettings, group_id: str, topics: list[str], deadline: float
) -> dict[TopicPartition, list[int]]:
    """Partitions whose commit lies past the end a fetch there reports: [commit, end]."""
    consumer = AIOKafkaConsumer(
        group_id=group_id,
        enable_auto_commit=False,
        fetch_max_wait_ms=200,
        **kafka.client_kwargs(),  # type: ignore[arg-type]
    )
    loop = asyncio.get_running_loop()
    try:
        await consumer.start()
        await consumer.topics()  # metadata of every topic, for partitions_for_topic
        committed: dict[TopicPartition, int] = {}
        for topic in topics:
            for partition in sorted(consumer.partitions_for_topic(topic) or ()):
                tp = TopicPartition(topic, partition)
                if offset := await consumer.committed(tp):
                    committed[tp] = offset
        if not committed:
            return {}
        consumer.assign(list(committed))
        for tp, offset in committed.items():
            consumer.seek(tp, offset)
        while loop.time() < deadline and any(consumer.highwater(tp) is None for tp in committed):
            await consumer.getmany(timeout_ms=200, max_records=1)
        return {
            tp: [offset, highwater]
            for tp, offset in committed.items()
            if (highwater := consumer.highwater(tp)) is not None and highwater < offset
        }
    finally:
        await stop_consumer(consumer)


async def _commit_as_member(
    kafka: KafkaSettings,
    group_id: str,
    topics: list[str],
    stale: dict[TopicPartition, list[int]],
    deadline: float,
) -> None:
    """Commit the start of each stale partition's log, joined to the group for the time.

    Tansu refuses a commit from outside a group that had members; a member that died
    with the old log holds the join up to its session timeout.
    """
    consumer = AIOKafkaConsumer(
        *topics,
        group_id=group_id,
        enable_auto_commit=False,
        session_timeout_ms=6000,  # Tansu holds a join for half of it
        heartbeat_interval_ms=2000,
        **kafka.client_kwargs(),  # type: ignore[arg-type]
    )
    loop = asyncio.get_running_loop()
    try:
        await consumer.start()
        while not consumer.assignment() and loop.time() < deadline:
            await consumer.getmany(timeout_ms=200, max_records=1)
        mine = [tp for tp in stale if tp in consumer.assignment()]
        starts = await consumer.beginning_offsets(mine)
        await consumer.commit({tp: starts[tp] for tp in mine})
    finally:
        await stop_consumer(consumer)
