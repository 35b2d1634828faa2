"""One partition's open file: records in, closed files out. Pure (no I/O, no clock).

A file covers a contiguous offset range [start_offset, end_offset] of one
partition. The first file after an assignment starts at the committed offset
(or, with none, at the first record read); every later file starts right after
the previous one's end. So `start_offset` of a file equals the offset committed
when the previous file was done, and a consumer restarting from that commit
starts the same file at the same offset: same key. The key also carries a tag of
the file's first event id (`sinks.keys`), so a topic whose offsets start over
(broker reset, recreated topic) never reuses the key of an older file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import pyarrow as pa

from sinks.batch import Limits, OpenFile, plan_cuts, take_whole
from sinks.decode import Decoded, decode_values
from sinks.errors import EncodeError
from sinks.keys import incarnation_tag, object_key
from sinks.parquet import conform, to_parquet

__all__ = ["BadRecord", "ClosedFile", "PartitionBuffer", "SinkRecord"]


class SinkRecord(Protocol):
    """The parts of a Kafka record the sink uses (aiokafka's ConsumerRecord fits)."""

    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A record that is not a valid event of the table, kept for the dead-letter topic."""

    offset: int
    key: bytes | None
    value: bytes | None
    reason: str


@dataclass(slots=True)
class ClosedFile:
    """A finished file: its offset range, its rows, the records that were not events."""

    table: str
    topic: str
    partition: int
    start_offset: int
    end_offset: int
    rows: int
    first_time: datetime | None
    first_event_id: str | None
    chunks: list[pa.Table]
    bad: list[BadRecord]
    encoded: bytes | None = None
    stored: bool = False
    unstored: Exception | None = None  # the non-retriable error that kept it out of the store

    @property
    def commit_offset(self) -> int:
        """The offset to commit once this file is stored: the next file's start."""
        return self.end_offset + 1

    def key(self, prefix: str) -> str | None:
        """The object key, or None when no record of the range was a valid event."""
        if self.first_time is None or self.first_event_id is None:
            return None
        return object_key(
            prefix,
            self.table,
            self.topic,
            self.partition,
            self.start_offset,
            self.first_time,
            incarnation_tag(self.first_event_id),
        )

    @property
    def metadata(self) -> dict[str, str]:
        """What the file says about itself (Parquet key-value metadata, S3 user metadata)."""
        return {
            "modeltrail.topic": self.topic,
            "modeltrail.partition": str(self.partition),
            "modeltrail.first_offset": str(self.start_offset),
            "modeltrail.last_offset": str(self.end_offset),
            "modeltrail.first_event_id": self.first_event_id or "",
        }

    def encode(self, schema: pa.Schema, level: int = 3) -> bytes:
        """Parquet bytes of the file; cached (a retry uploads the same bytes), rows released.

        Raises:
            EncodeError: the rows do not fit the schema (trying again cannot help).
        """
        if self.encoded is None:
            try:
                table = conform(self.chunks, schema)
            except pa.ArrowException as exc:
                raise EncodeError(f"{self.topic}/{self.partition}: {exc}") from exc
            self.encoded = to_parquet(
                table,
                level=level,
                metadata=self.metadata,
            )
            self.chunks = []
        return self.encoded


@dataclass(slots=True)
class PartitionBuffer:
    """The open file of one topic-partition."""

    table: str
    topic: str
    partition: int
    schema: pa.Schema
    expected_type: str
    limits: Limits
    start_offset: int | None = None
    last_offset: int | None = None
    open: OpenFile = field(default_factory=OpenFile)
    chunks: list[pa.Table] = field(default_factory=list)
    bad: list[BadRecord] = field(default_factory=list)

    @property
    def buffered(self) -> int:
        """Records in the open file."""
        return self.open.rows

    @property
    def buffered_bytes(self) -> int:
        return self.open.bytes

    def decode(self, records: Sequence[SinkRecord]) -> Decoded:
        """Decode a chunk (thread-safe: touches no state; Arrow releases the GIL)."""
        return decode_values([r.value for r in records], self.schema, self.expected_type)

    def ingest(
        self,
        records: Sequence[SinkRecord],
        committed: int | None = None,
        decoded: Decoded | None = None,
    ) -> list[ClosedFile]:
        """Add consecutive records; return the files the deterministic rule closed.

        `committed` is the group's committed offset, needed only for the first
        records after an assignment; `decoded` is `self.decode(records)` if done already.
        """
        if not records:
            return []
        if self.start_offset is None:
            head = records[0].offset
            self.start_offset = committed if committed is not None and committed <= head else head
        if decoded is None:
            decoded = self.decode(records)
        sizes = [len(r.value) if r.value else 0 for r in records]
        first: int | None = decoded.times[0].as_py() if len(decoded.times) else None
        cuts: list[int]
        if take_whole(self.open, len(records), sum(sizes), first, decoded.span_us, self.limits):
            cuts, after = [], self.open
        else:
            cuts, after = plan_cuts(self.open, sizes, decoded.times_us, self.limits)
        bounds = [0, *cuts, len(records)]
        closed: list[ClosedFile] = []
        for j in range(len(bounds) - 1):
            a, b = bounds[j], bounds[j + 1]
            if j > 0:
                done = self._close()
                if done is not None:
                    closed.append(done)
            if a == b:
                continue
            r0, r1 = decoded.row_range(a, b)
            if r1 > r0:
                self.chunks.append(decoded.table.slice(r0, r1 - r0))
            for i, reason in decoded.bad.items():
                if a <= i < b:
                    rec = records[i]
                    self.bad.append(BadRecord(rec.offset, rec.key, rec.value, reason))
            self.last_offset = records[b - 1].offset
        self.open = after
        return closed

    def flush(self) -> ClosedFile | None:
        """Close the open file now (idle partition, shutdown); None when it is empty."""
        done = self._close()
        self.open = OpenFile()
        return done

    def _close(self) -> ClosedFile | None:
        if self.last_offset is None or self.start_offset is None:
            return None
        if self.last_offset < self.start_offset:
            return None
        rows = sum(c.num_rows for c in self.chunks)
        head = next((c for c in self.chunks if c.num_rows), None)
        first = head["time"][0].as_py() if head is not None else None
        first_id = head["event_id"][0].as_py() if head is not None else None
        done = ClosedFile(
            table=self.table,
            rows=rows,
            first_time=first.astimezone(UTC) if first is not None else None,
            first_event_id=first_id,
            topic=self.topic,
            partition=self.partition,
            start_offset=self.start_offset,
            end_offset=self.last_offset,
            chunks=self.chunks,
            bad=self.bad,
        )
        self.start_offset = self.last_offset + 1
        self.chunks = []
        self.bad = []
        return done
