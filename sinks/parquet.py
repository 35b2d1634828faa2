"""Arrow rows -> zstd Parquet bytes. Pure: no I/O here, uploading is `sinks.object_store`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from schemas.events import EventEnvelope

__all__ = ["conform", "events_table", "to_parquet"]


def conform(tables: Sequence[pa.Table], schema: pa.Schema) -> pa.Table:
    """One table with the model's columns first, in schema order; extra (newer) columns after.

    A column a newer producer added and this sink's schema does not know yet is
    kept as an extra nullable column, so nothing is dropped; readers merge files
    by column name.
    """
    if not tables:
        return schema.empty_table()
    table = pa.concat_tables(_unify_extras(tables, schema), promote_options="permissive")
    columns: list[pa.ChunkedArray] = []
    fields: list[pa.Field] = []
    for f in schema:
        if f.name in table.column_names:
            col = table[f.name]
            if col.type != f.type:
                col = col.cast(f.type)
        else:
            col = pa.nulls(table.num_rows, f.type)
        columns.append(col)  # type: ignore[arg-type]
        fields.append(f)
    known = set(schema.names)
    for f in table.schema:
        if f.name not in known:
            columns.append(table[f.name])
            fields.append(f.with_nullable(True))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=schema.metadata))


def _unify_extras(tables: Sequence[pa.Table], schema: pa.Schema) -> list[pa.Table]:
    """Unknown columns whose inferred types disagree between chunks become JSON text."""
    known = set(schema.names)
    seen: dict[str, set[pa.DataType]] = {}
    for t in tables:
        for f in t.schema:
            if f.name not in known and not pa.types.is_null(f.type):
                seen.setdefault(f.name, set()).add(f.type)
    conflicted = {name for name, types in seen.items() if len(types) > 1}
    if not conflicted:
        return list(tables)
    out = []
    for t in tables:
        for name in conflicted & set(t.column_names):
            text = [None if v is None else orjson.dumps(v).decode() for v in t[name].to_pylist()]
            t = t.set_column(t.schema.get_field_index(name), name, pa.array(text, pa.string()))
        out.append(t)
    return out


def to_parquet(
    table: pa.Table, *, level: int = 3, metadata: Mapping[str, str] | None = None
) -> bytes:
    """Encode a table as zstd-compressed Parquet; `metadata` goes into the file's key-value metadata."""
    if metadata:
        merged = {
            **(table.schema.metadata or {}),
            **{k.encode(): v.encode() for k, v in metadata.items()},
        }
        table = table.replace_schema_metadata(merged)
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        compression_level=level,
        use_dictionary=True,
        write_statistics=True,
    )
    return bytes(sink.getvalue())


def events_table(events: Sequence[EventEnvelope], schema: pa.Schema) -> pa.Table:
    """Validated models -> a table of `schema` (tools and tests; the sink's hot path uses `decode`)."""
    rows = [e.model_dump(mode="python") for e in events]
    return pa.Table.from_pylist(rows, schema=schema)
