"""The audit history: DuckDB over the Parquet trail the sinks write.

Reads through the one reader of the trail (`sinks.query.connect`): a local
directory or S3 through pyarrow, with the same views the `modeltrail query`
command sees. Only metadata columns are returned (no prompt or response text).
An empty or missing trail is an empty history, not an error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from proxy.control.errors import HistoryError
from proxy.settings import ProxySettings
from schemas.topics import TABLES
from sinks.settings import TrailLocation

__all__ = ["HISTORY_COLUMNS", "history_trail", "query_history"]

#: Columns the history shows, when present in the trail (tables differ).
HISTORY_COLUMNS = (
    "time",
    "type",
    "event_id",
    "session_id",
    "request_id",
    "source",
    "backend",
    "provider",
    "path",
    "model",
    "stream",
    "status_code",
    "outcome",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "finish_reason",
    "error_type",
    "rule_id",
    "severity",
    "action",
    "mode",
    "enforced",
    "target",
    "command",
    "block_mode",
    "expires_at",
    "reason",
    "issuer",
)


def history_trail(settings: ProxySettings) -> TrailLocation:
    """The trail `/control/history` reads: `history_path` and its S3 access."""
    return TrailLocation(
        target=settings.history_path,
        s3_endpoint_url=settings.history_s3_endpoint_url,
        s3_region=settings.history_s3_region,
        s3_access_key_id=settings.history_s3_access_key_id,
        s3_secret_access_key=settings.history_s3_secret_access_key,
    )


def query_history(
    trail: TrailLocation | str,
    *,
    session: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The newest events of the trail, filtered; blocking (run in a thread).

    Raises:
        HistoryError: the trail could not be reached or read.
    """
    import duckdb  # the reader loads pyarrow: only when the history is asked for

    from sinks.errors import QueryError
    from sinks.query import connect

    where_trail = trail if isinstance(trail, TrailLocation) else TrailLocation(target=trail)
    try:
        with connect(where_trail) as con:
            union = " UNION ALL BY NAME ".join(f"SELECT * FROM {t}" for t in TABLES)
            source = f"({union})"
            available = {
                row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
            }
            columns = [c for c in HISTORY_COLUMNS if c in available]
            where: list[str] = []
            params: list[object] = []
            for column, value in (("session_id", session), ("type", event_type)):
                if value is not None:
                    where.append(f"{column} = ?")
                    params.append(value)
            if since is not None:
                where.append("time >= ?")
                params.append(since)
            sql = f"SELECT {', '.join(columns)} FROM {source}"
            if where:
                sql += " WHERE " + " AND ".join(where)
            sql += f" ORDER BY time DESC LIMIT {int(limit)}"
            cursor = con.execute(sql, params)
            names = [d[0] for d in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    except (QueryError, duckdb.Error) as exc:
        raise HistoryError(f"cannot read the trail under {where_trail.target}: {exc}") from exc
