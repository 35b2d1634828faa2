"""Kafka values -> Arrow rows, without a pydantic object per event.

Pure. The fast path parses a whole fetch of JSON values at once with Arrow's
JSON reader against the schema derived from the model (never inferred), then
validates cheaply with vectorised checks: required envelope fields present and
`type` equal to the table's type. A batch the reader rejects falls back to one
record at a time, so a single bad record costs only itself: it is reported in
`bad` with a reason (the consumer dead-letters it) and never blocks the rest.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

__all__ = ["REQUIRED", "Decoded", "decode_values"]

#: Envelope fields without which a row is not an event.
REQUIRED = ("event_id", "type", "time", "source", "session_id")


@dataclass(frozen=True, slots=True)
class Decoded:
    """The valid rows of a chunk of records, plus what was wrong with the others."""

    table: pa.Table
    times: pa.Array  # int64 microseconds of the valid rows, in order
    bad: dict[int, str]
    count: int  # input records

    @property
    def times_us(self) -> list[int | None]:
        """Event time per input record; None for a record that is not a valid event."""
        times = self.times.to_pylist()
        if not self.bad:
            return times  # type: ignore[no-any-return]
        it = iter(times)
        return [None if i in self.bad else next(it) for i in range(self.count)]

    @property
    def span_us(self) -> tuple[int, int] | None:
        """(min, max) event time of the valid rows, or None without any."""
        if not len(self.times):
            return None
        mm = pc.min_max(self.times)
        return mm["min"].as_py(), mm["max"].as_py()

    def row_range(self, start: int, stop: int) -> tuple[int, int]:
        """Rows of `table` that come from input records [start, stop)."""
        before = self._rows_before
        return before[start], before[stop]

    @property
    def _rows_before(self) -> list[int]:
        n = self.count
        if not self.bad:
            return list(range(n + 1))
        return [0, *accumulate(0 if i in self.bad else 1 for i in range(n))]


def _read(data: bytes, schema: pa.Schema, max_len: int, *, threads: bool = True) -> pa.Table:
    block = 1 << 20
    while block <= max_len + 1:
        block <<= 1
    return pj.read_json(
        io.BytesIO(data),
        read_options=pj.ReadOptions(use_threads=threads, block_size=block),
        parse_options=pj.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="infer", newlines_in_values=False
        ),
    )


def _screen(value: bytes | None) -> bytes | str:
    """One line of JSON object text for the reader, or why the record is not one."""
    if value is None:
        return "tombstone"
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        return "not JSON"
    if not isinstance(obj, dict):
        return "not a JSON object"
    return orjson.dumps(obj) if b"\n" in value else value


def _read_one(value: bytes, schema: pa.Schema) -> pa.Table | str:
    try:
        return _read(value, schema, len(value), threads=False)
    except pa.ArrowException as exc:
        return f"not a valid event: {str(exc).splitlines()[0][:200]}"


def _slow_path(
    values: Sequence[bytes | None], schema: pa.Schema
) -> tuple[pa.Table, dict[int, str]]:
    bad: dict[int, str] = {}
    lines: dict[int, bytes] = {}
    for i, value in enumerate(values):
        screened = _screen(value)
        if isinstance(screened, str):
            bad[i] = screened
        else:
            lines[i] = screened
    if lines:
        try:
            table = _read(b"\n".join(lines.values()), schema, max(map(len, lines.values())))
            if table.num_rows == len(lines):
                return table, bad
        except pa.ArrowException:
            pass
    parts: list[pa.Table] = []
    for i, line in lines.items():
        one = _read_one(line, schema)
        if isinstance(one, str):
            bad[i] = one
        else:
            parts.append(one)
    return _concat(parts, schema), bad


def _validate(table: pa.Table, expected_type: str) -> pa.ChunkedArray:
    names = set(table.column_names)
    mask: pa.ChunkedArray | pa.Array | None = None
    for name in REQUIRED:
        if name not in names:
            return pa.chunked_array([pa.array([False] * table.num_rows)])
        ok = pc.is_valid(table[name])
        mask = ok if mask is None else pc.and_(mask, ok)
    type_ok = pc.fill_null(pc.equal(table["type"], pa.scalar(expected_type)), False)
    return pc.and_(mask, type_ok)


def _concat(tables: Sequence[pa.Table], schema: pa.Schema) -> pa.Table:
    if not tables:
        return schema.empty_table()
    return pa.concat_tables(tables, promote_options="permissive")


def decode_values(values: Sequence[bytes | None], schema: pa.Schema, expected_type: str) -> Decoded:
    """Decode JSON event values into rows of `schema`; report the records that are not events."""
    bad: dict[int, str] = {}
    table: pa.Table | None = None
    clean = all(v and b"\n" not in v for v in values)
    if clean and values:
        try:
            table = _read(b"\n".join(values), schema, max(map(len, values)))  # type: ignore[arg-type]
        except pa.ArrowException:
            table = None
        if table is not None and table.num_rows != len(values):
            table = None
    if table is None:
        table, bad = _slow_path(values, schema)
    good_index = [i for i in range(len(values)) if i not in bad]
    mask = _validate(table, expected_type)
    if not pc.all(mask).as_py():
        flags = mask.to_pylist()
        for row, ok in enumerate(flags):
            if not ok:
                bad[good_index[row]] = f"missing envelope field or type is not {expected_type}"
        table = table.filter(mask)
        good_index = [i for i, ok in zip(good_index, flags, strict=True) if ok]
    times = (
        pc.cast(table["time"], pa.int64()).combine_chunks()
        if table.num_rows
        else pa.array([], pa.int64())
    )
    return Decoded(table=table, times=times, bad=dict(sorted(bad.items())), count=len(values))
