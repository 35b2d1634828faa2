"""Compare-before-overwrite against a real local directory: nothing is ever replaced by less."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from sinks.keys import parse_key
from sinks.object_store import LocalStore
from sinks.parquet import to_parquet
from sinks.publish import decide, file_metadata, publish

KEY = "requests/dt=2026-01-01/hour=00/t+0+0000000000000000000+0123456789abcdef.parquet"


def _file(last: int, first_id: str = "e0", topic: str = "t") -> tuple[bytes, dict[str, str]]:
    meta = {
        "modeltrail.topic": topic,
        "modeltrail.partition": "0",
        "modeltrail.first_offset": "0",
        "modeltrail.last_offset": str(last),
        "modeltrail.first_event_id": first_id,
    }
    table = pa.table({"n": list(range(last + 1)), "when": [datetime.now(UTC)] * (last + 1)})
    return to_parquet(table, metadata=meta), meta


def test_decide_keeps_the_longer_file_and_flags_strangers() -> None:
    _, short = _file(4)
    _, long = _file(9)
    assert decide(long, short) == "kept"
    assert decide(short, long) == "set_aside"
    assert decide(long, long) == "kept"
    _, other = _file(9, first_id="another-incarnation")
    assert decide(short, other) == "conflict"
    assert decide({}, long) == "conflict"  # a legacy or foreign file is never replaced


async def test_publish_never_replaces_a_file_with_fewer_records(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    long_bytes, long = _file(9)
    short_bytes, short = _file(4)
    assert await publish(store, KEY, long_bytes, long) == ("written", KEY)
    # A late upload of a fenced sink that cut its file earlier: the longer file stays.
    assert await publish(store, KEY, short_bytes, short) == ("kept", KEY)
    assert await store.get(KEY) == long_bytes
    assert file_metadata(await store.get(KEY))["modeltrail.last_offset"] == "9"


async def test_publish_sets_longer_files_and_strangers_aside(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    short_bytes, short = _file(4)
    long_bytes, long = _file(9)
    await publish(store, KEY, short_bytes, short)
    # A replay that got further than an uncommitted file: both kept, nothing replaced.
    outcome, beside = await publish(store, KEY, long_bytes, long)
    assert outcome == "set_aside" and beside != KEY
    assert await store.get(KEY) == short_bytes
    assert await store.get(beside) == long_bytes
    other_bytes, other = _file(9, first_id="another-incarnation")
    outcome, side = await publish(store, KEY, other_bytes, other)
    assert outcome == "conflict" and side not in (KEY, beside)
    assert parse_key(side).conflict  # beside it, still a trail key the views read
    assert await store.get(KEY) == short_bytes
    assert await store.get(side) == other_bytes
    assert await publish(store, KEY, other_bytes, other) == ("conflict", side)  # idempotent
    assert sorted(await store.list("requests/")) == sorted([KEY, beside, side])
