"""The audit history: DuckDB over the Parquet trail the sinks write.

Only metadata columns are returned (no prompt or response text). An empty or
missing trail is an empty history, not an error.
"""

from __future__ import annotations

import glob
import os
from datetime import datetime
from typing import Any

import duckdb

from proxy.control.errors import HistoryError

__all__ = ["HISTORY_COLUMNS", "query_history"]

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


def _pattern(root: str) -> str | None:
    """The Parquet glob under `root`, or None when there is nothing to read."""
    if "://" in root:
        return root.rstrip("/") + "/**/*.parquet"
    pattern = os.path.join(root, "**", "*.parquet")
    return pattern if glob.glob(pattern, recursive=True) else None


def query_history(
    root: str,
    *,
    session: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The newest events of the trail under `root`, filtered; blocking (run in a thread).

    Raises:
        HistoryError: DuckDB could not read the files.
    """
    pattern = _pattern(root)
    if pattern is None:
        return []
    source = "read_parquet(?, union_by_name=true, hive_partitioning=true)"
    try:
        with duckdb.connect() as con:
            available = {
                row[0]
                for row in con.execute(f"DESCRIBE SELECT * FROM {source}", [pattern]).fetchall()
            }
            columns = [c for c in HISTORY_COLUMNS if c in available]
            where: list[str] = []
            params: list[object] = [pattern]
            for column, value in (("session_id", session), ("type", event_type)):
                if value is not None:
                    if column not in available:
                        return []
                    where.append(f"{column} = ?")
                    params.append(value)
            if since is not None and "time" in available:
                where.append("time >= ?")
                params.append(since)
            # One row per event, as in every view of the trail (`sinks.query`).
            dedup = f"(SELECT DISTINCT ON (event_id) * FROM {source})"
            sql = f"SELECT {', '.join(columns)} FROM {dedup if 'event_id' in available else source}"
            if where:
                sql += " WHERE " + " AND ".join(where)
            if "time" in available:
                sql += " ORDER BY time DESC"
            sql += f" LIMIT {int(limit)}"
            cursor = con.execute(sql, params)
            names = [d[0] for d in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    except duckdb.IOException as exc:
        if "No files found" in str(exc):
            return []
        raise HistoryError(f"cannot read the trail under {root}: {exc}") from exc
    except duckdb.Error as exc:
        raise HistoryError(f"cannot query the trail under {root}: {exc}") from exc
