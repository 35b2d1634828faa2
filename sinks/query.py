"""DuckDB over the Parquet trail: views `requests`, `responses`, `violations`,
`session_commands`, `stream_windows`, `deadletter`, a `sessions` summary and `spend`
(one row per answer with key, team, user, model, tokens and cost; see `sinks.spend`).

The one reader of the trail: the `modeltrail query` command and the proxy's
`/control/history` both go through `connect`. Works on a local directory or on S3.
For S3 DuckDB reads through pyarrow's S3 filesystem (wrapped as an fsspec
filesystem), so no DuckDB extension and no httpfs has to be downloaded at run time. Files are merged by column name (`union_by_name`), so
files written before and after an additive schema change read together; a
column missing from an older file reads as NULL.

Every view reads one row per `event_id`: a spool replay or a producer retry can
put one event on the broker twice (at two offsets, so in two files), and a
conflict the sink set aside keeps two copies of the same records. The files as
written stay readable as `<table>_raw` (every copy), as in the Athena DDL.
"""

from __future__ import annotations

from typing import Any

import duckdb
from fsspec.implementations.arrow import ArrowFSWrapper

from schemas import TABLES, arrow_schema
from sinks.errors import QueryError
from sinks.keys import table_prefix
from sinks.object_store import parse_target
from sinks.settings import SinkSettings, TrailLocation
from sinks.spend import create_spend_view

__all__ = ["SESSIONS_SQL", "connect", "run_query"]

_PROTOCOL = "mtrail"

SESSIONS_SQL = """
CREATE OR REPLACE VIEW sessions AS
WITH ids AS (
    SELECT session_id FROM requests UNION SELECT session_id FROM responses
    UNION SELECT session_id FROM violations UNION SELECT session_id FROM session_commands
), rq AS (
    SELECT session_id, count(*) AS requests, min(time) AS first_seen, max(time) AS last_seen,
           string_agg(DISTINCT model, ',') AS models, any_value(client_ip) AS client_ip
    FROM requests GROUP BY session_id
), rs AS (
    SELECT session_id, count(*) AS responses, sum(total_tokens) AS total_tokens,
           count(*) FILTER (WHERE outcome <> 'ok') AS errors, max(time) AS last_response
    FROM responses GROUP BY session_id
), vi AS (
    SELECT session_id, count(*) AS violations,
           max(CASE severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3
                             WHEN 'warning' THEN 2 ELSE 1 END) AS sev
    FROM violations GROUP BY session_id
), cm AS (
    SELECT session_id, arg_max(command, time) AS last_command FROM session_commands
    GROUP BY session_id
)
SELECT ids.session_id,
       rq.first_seen, greatest(rq.last_seen, rs.last_response) AS last_seen,
       coalesce(rq.requests, 0) AS requests, coalesce(rs.responses, 0) AS responses,
       coalesce(rs.total_tokens, 0) AS total_tokens, coalesce(rs.errors, 0) AS errors,
       coalesce(vi.violations, 0) AS violations,
       CASE vi.sev WHEN 4 THEN 'critical' WHEN 3 THEN 'high' WHEN 2 THEN 'warning'
                   WHEN 1 THEN 'info' END AS max_severity,
       coalesce(cm.last_command = 'kill', false) AS killed,
       rq.models, rq.client_ip
FROM ids
LEFT JOIN rq USING (session_id) LEFT JOIN rs USING (session_id)
LEFT JOIN vi USING (session_id) LEFT JOIN cm USING (session_id)
"""


class _TrailFS(ArrowFSWrapper):  # type: ignore[misc]
    """pyarrow's S3 filesystem as fsspec, under a protocol DuckDB does not claim for httpfs."""

    protocol = _PROTOCOL

    @classmethod
    def _strip_protocol(cls, path: str | list[str]) -> str | list[str]:
        if isinstance(path, list):
            return [str(cls._strip_protocol(p)) for p in path]
        return path.removeprefix(f"{_PROTOCOL}://").rstrip("/")


def _s3_filesystem(settings: TrailLocation) -> _TrailFS:
    from pyarrow import fs as pafs

    endpoint = settings.s3_endpoint_url
    kw: dict[str, Any] = {"region": settings.s3_region, "connect_timeout": 5, "request_timeout": 30}
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        kw.update(endpoint_override=host or scheme, scheme=scheme if host else "https")
    if settings.s3_access_key_id and settings.s3_secret_access_key:
        kw.update(
            access_key=settings.s3_access_key_id.get_secret_value(),
            secret_key=settings.s3_secret_access_key.get_secret_value(),
        )
    return _TrailFS(pafs.S3FileSystem(**kw))


def _check_bucket(fs: _TrailFS, bucket: str) -> None:
    from pyarrow import fs as pafs

    try:
        info = fs.fs.get_file_info(bucket)
    except OSError as exc:
        raise QueryError(f"S3 unreachable: {exc}") from exc
    if info.type == pafs.FileType.NotFound:
        raise QueryError(f"no such bucket: {bucket}")


def connect(
    where: SinkSettings | TrailLocation, *, sandbox: bool = False
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a view per table over the trail.

    With `sandbox` (SQL typed by someone else, e.g. the dashboard) the connection
    reads only the trail: file access outside it, extension installs and
    configuration changes are refused, and it runs on one thread with a memory cap.

    Raises:
        QueryError: the bucket does not exist or S3 cannot be reached.
    """
    settings = where if isinstance(where, TrailLocation) else TrailLocation.of(where)
    target = parse_target(settings.target)
    con = duckdb.connect()
    if target.kind == "s3":
        fs = _s3_filesystem(settings)
        _check_bucket(fs, target.root)
        con.register_filesystem(fs)
        root = f"{_PROTOCOL}://{target.root}/"
        exists = fs.glob
    else:
        from glob import glob

        root = target.root.rstrip("/") + "/"

        def exists(pattern: str) -> list[str]:
            return glob(pattern, recursive=True)

    for table, model in TABLES.items():
        pattern = f"{root}{table_prefix(target.prefix, table)}**/*.parquet"
        probe = pattern.removeprefix(f"{_PROTOCOL}://")
        if exists(probe):
            con.execute(
                f"CREATE VIEW {table}_raw AS SELECT * FROM read_parquet('{pattern}', "
                "union_by_name = true, hive_partitioning = true, "
                "hive_types = {'dt': DATE, 'hour': INTEGER})"
            )
        else:
            empty = arrow_schema(model).empty_table()
            con.register(f"_empty_{table}", empty)
            con.execute(
                f"CREATE VIEW {table}_raw AS SELECT *, NULL::DATE AS dt, NULL::INTEGER AS hour "
                f"FROM _empty_{table}"
            )
        # The copies of one event hold the same values, so any one of them will do.
        con.execute(f"CREATE VIEW {table} AS SELECT DISTINCT ON (event_id) * FROM {table}_raw")
    con.execute(SESSIONS_SQL)
    create_spend_view(con)
    if sandbox:
        _sandbox(con, root)
    return con


def _sandbox(con: duckdb.DuckDBPyConnection, root: str) -> None:
    """Confine `con` to reading `root`; the settings cannot be changed back."""
    quoted = root.replace("'", "''")
    con.execute("SET threads = 1")
    con.execute("SET memory_limit = '512MB'")
    con.execute(f"SET allowed_directories = ['{quoted}']")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def run_query(
    settings: SinkSettings | TrailLocation, sql: str
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one SQL statement over the trail; returns (column names, rows). Raises QueryError."""
    try:
        con = connect(settings)
        try:
            rel = con.sql(sql)
            if rel is None:
                return [], []
            return list(rel.columns), rel.fetchall()
        finally:
            con.close()
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from exc
