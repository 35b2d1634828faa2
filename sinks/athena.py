"""Athena DDL for the trail: one external table per event type, with partition projection.

Pure: derived from the same Arrow schemas the sink writes, so the DDL never drifts.

Each event type gets an external table `<table>_raw` over its files and a view
`<table>` that keeps one row per `event_id`: spool replays and producer retries
can put one event on the broker twice (each copy at its own offset), and the
view makes the trail read exactly once per event.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from schemas import TABLES, arrow_schema
from sinks.keys import table_prefix
from sinks.object_store import parse_target

__all__ = ["athena_ddl", "hive_type"]


def hive_type(t: pa.DataType) -> str:
    """The Athena (Hive DDL) type of an Arrow type."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_int64(t):
        return "bigint"
    if pa.types.is_int32(t):
        return "int"
    if pa.types.is_floating(t):
        return "double"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_list(t):
        return f"array<{hive_type(t.value_type)}>"
    if pa.types.is_struct(t):
        fields = ",".join(
            f"{t.field(i).name}:{hive_type(t.field(i).type)}" for i in range(t.num_fields)
        )
        return f"struct<{fields}>"
    raise TypeError(f"no Athena type for {t}")


def athena_ddl(
    target: str,
    *,
    database: str = "modeltrail",
    tables: Iterable[str] | None = None,
    since: str = "2024-01-01",
) -> str:
    """CREATE EXTERNAL TABLE statements (partition projection on dt/hour) for an s3:// target."""
    parsed = parse_target(target)
    if parsed.kind != "s3":
        raise ValueError(f"Athena reads S3: target must be s3://bucket/prefix, not {target!r}")
    statements = [f"CREATE DATABASE IF NOT EXISTS `{database}`;"]
    for table in tables or TABLES:
        schema = arrow_schema(TABLES[table])
        location = f"s3://{parsed.root}/{table_prefix(parsed.prefix, table)}"
        columns = ",\n".join(f"  `{f.name}` {hive_type(f.type)}" for f in schema)
        statements.append(
            f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{table}_raw` (\n{columns}\n)\n"
            "PARTITIONED BY (`dt` string, `hour` string)\n"
            "STORED AS PARQUET\n"
            f"LOCATION '{location}'\n"
            "TBLPROPERTIES (\n"
            "  'parquet.compression'='ZSTD',\n"
            "  'projection.enabled'='true',\n"
            "  'projection.dt.type'='date',\n"
            "  'projection.dt.format'='yyyy-MM-dd',\n"
            f"  'projection.dt.range'='{since},NOW',\n"
            "  'projection.dt.interval'='1',\n"
            "  'projection.dt.interval.unit'='DAYS',\n"
            "  'projection.hour.type'='integer',\n"
            "  'projection.hour.range'='0,23',\n"
            "  'projection.hour.digits'='2',\n"
            f"  'storage.location.template'='{location}dt=${{dt}}/hour=${{hour}}/'\n"
            ");"
        )
        statements.append(_dedup_view(database, table, [*schema.names, "dt", "hour"]))
    return "\n\n".join(statements) + "\n"


def _dedup_view(database: str, table: str, names: list[str]) -> str:
    """`<table>`: one row per event_id over `<table>_raw` (Athena views take no EXCLUDE)."""
    cols = ", ".join(f'"{n}"' for n in names)
    return (
        f'CREATE OR REPLACE VIEW "{database}"."{table}" AS\n'
        f"SELECT {cols} FROM (\n"
        f'  SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY "$path") AS mt_copy\n'
        f'  FROM "{database}"."{table}_raw"\n'
        ") WHERE mt_copy = 1;"
    )
