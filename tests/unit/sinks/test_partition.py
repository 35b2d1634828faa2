from __future__ import annotations

import io
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq

from schemas import LLMRequest, arrow_schema, encode
from sinks.batch import Limits
from sinks.partition import ClosedFile, PartitionBuffer


@dataclass(frozen=True)
class Rec:
    offset: int
    key: bytes | None
    value: bytes | None


def records(n: int, start: int = 0) -> list[Rec]:
    base = datetime(2026, 5, 1, 9, 50, tzinfo=UTC)
    out = []
    for i in range(n):
        e = LLMRequest(
            source="t",
            session_id=f"s{i % 7}",
            backend="b",
            provider="openai",
            path="/p",
            time=base + timedelta(seconds=i),
        )
        out.append(Rec(start + i, b"k", encode(e) if i % 97 != 5 else b"garbage"))
    return out


def buffer(limits: Limits) -> PartitionBuffer:
    return PartitionBuffer(
        "requests", "llm.requests", 3, arrow_schema(LLMRequest), "llm.request.v1", limits
    )


def ranges(files: list[ClosedFile]) -> list[tuple[int, int, int, str | None]]:
    return [(f.start_offset, f.end_offset, f.rows, f.key("x")) for f in files]


LIMITS = Limits(max_rows=300, max_bytes=10**9, max_span_us=10**12)


def test_same_files_whatever_the_fetch_sizes() -> None:
    recs = records(1500)
    whole = buffer(LIMITS)
    files = whole.ingest(recs)
    rng = random.Random(1)
    for _ in range(5):
        b, pos, got = buffer(LIMITS), 0, []
        while pos < len(recs):
            n = rng.randrange(1, 200)
            got += b.ingest(recs[pos : pos + n])
            pos += n
        assert ranges(got) == ranges(files)
    # 09:50 + 600 s crosses 10:00: the hour forces a cut at record 600 too.
    assert [(f.start_offset, f.end_offset) for f in files] == [
        (0, 299),
        (300, 599),
        (600, 899),
        (900, 1199),
    ]
    assert (
        files[2]
        .key("x")
        .startswith("x/requests/dt=2026-05-01/hour=10/llm.requests+3+0000000000000000600")
    )
    assert sum(len(f.bad) for f in files) == sum(1 for i in range(1200) if i % 97 == 5)


def test_replay_after_an_idle_flush_restarts_at_the_committed_offset() -> None:
    recs = records(250)
    first = buffer(LIMITS)
    first.ingest(recs[:100])
    flushed = first.flush()  # time-driven: the partition went quiet
    assert flushed is not None and (flushed.start_offset, flushed.end_offset) == (0, 99)
    later = first.ingest(recs[100:])
    # A new incarnation resumes from the commit of the flushed file.
    replay = buffer(LIMITS)
    again = replay.ingest(recs[100:], committed=flushed.commit_offset)
    assert ranges(later) == ranges(again)
    assert replay.flush().key("x") == first.flush().key("x")  # type: ignore[union-attr]


def test_replay_of_an_uncommitted_file_reuses_its_key() -> None:
    recs = records(120)
    crashed = buffer(LIMITS)
    crashed.ingest(recs[:50])
    orphan = crashed.flush()  # uploaded, then killed before the commit
    replay = buffer(LIMITS)
    replay.ingest(recs)  # nothing committed: starts where the orphan started
    assert replay.flush().key("x") == orphan.key("x")  # type: ignore[union-attr]


def test_encoded_file_is_parquet_with_offsets_in_metadata() -> None:
    b = buffer(LIMITS)
    b.ingest(records(10, start=40), committed=40)
    f = b.flush()
    assert f is not None
    data = f.encode(arrow_schema(LLMRequest))
    assert f.encode(arrow_schema(LLMRequest)) is data
    table = pq.read_table(io.BytesIO(data))
    assert table.num_rows == 9 and table.schema.names[:2] == ["event_id", "type"]
    meta = pq.read_metadata(io.BytesIO(data)).metadata
    assert meta[b"modeltrail.first_offset"] == b"40" and meta[b"modeltrail.last_offset"] == b"49"
    assert pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0).column(0).compression == "ZSTD"


def test_a_range_of_only_bad_records_has_no_object() -> None:
    b = buffer(LIMITS)
    b.ingest([Rec(7, None, b"nope"), Rec(8, None, None)])
    f = b.flush()
    assert f is not None and f.key("x") is None and f.commit_offset == 9 and len(f.bad) == 2
    assert b.flush() is None
