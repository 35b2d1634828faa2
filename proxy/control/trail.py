"""The dashboard's reads of the Parquet trail: one session's timeline and SQL.

Both open the same DuckDB views as `modeltrail query` (`sinks.query.connect`).
SQL typed in the dashboard runs on a sandboxed connection (reads the trail and
nothing else, cannot change its own settings), must be one SELECT statement,
is interrupted after a timeout and returns at most `max_rows` rows. All of it is
blocking: run it in a thread. DuckDB and the reader (pyarrow) load on first use.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import threading
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from proxy.control.errors import HistoryError, QueryRejected
from sinks.settings import TrailLocation

__all__ = ["CONTENT_COLUMNS", "TrailReader", "jsonable", "to_csv"]

#: Columns that carry prompt or answer text: shown only to keys with the content scope.
CONTENT_COLUMNS = frozenset({"messages", "text", "tool_calls", "error_message", "value_excerpt"})

#: Timeline sources: (view, kind) in the order a request's story unfolds.
_TIMELINE = (
    ("requests", "request"),
    ("stream_windows", "stream_window"),
    ("responses", "response"),
    ("violations", "violation"),
    ("session_commands", "command"),
)
_PER_KIND = 500


def jsonable(value: Any) -> Any:
    """A DuckDB value as JSON: times as ISO text, decimals as floats, bytes as base64."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def to_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """RFC 4180 CSV with a header; nested values as JSON."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(
            json.dumps(v) if isinstance(v, dict | list) else ("" if v is None else v)
            for v in (jsonable(x) for x in row)
        )
    return out.getvalue()


class TrailReader:
    """The trail (a directory or s3://bucket/prefix), read through DuckDB."""

    def __init__(
        self, trail: TrailLocation, *, timeout_s: float = 10.0, max_rows: int = 5000
    ) -> None:
        self._trail = trail
        self.timeout_s = timeout_s
        self.max_rows = max_rows

    def query(self, sql: str) -> tuple[list[str], list[list[Any]], bool]:
        """(columns, JSON-able rows, truncated) of one SELECT over the trail.

        Raises:
            QueryRejected: not exactly one SELECT statement, or it failed or timed out.
            HistoryError: the trail could not be opened.
        """
        import duckdb

        from sinks.errors import QueryError
        from sinks.query import connect

        try:
            con = connect(self._trail, sandbox=True)
        except (QueryError, duckdb.Error) as exc:
            raise HistoryError(f"cannot open the trail: {exc}") from exc
        timer = threading.Timer(self.timeout_s, con.interrupt)
        try:
            try:
                statements = con.extract_statements(sql)
            except duckdb.Error as exc:
                raise QueryRejected(str(exc)) from exc
            if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
                raise QueryRejected("only one SELECT statement is allowed")
            timer.start()
            try:
                cursor = con.execute(sql)
                columns = [d[0] for d in cursor.description or []]
                rows = cursor.fetchmany(self.max_rows + 1)
            except duckdb.InterruptException as exc:
                raise QueryRejected(f"the query ran over {self.timeout_s:g} s") from exc
            except duckdb.Error as exc:
                raise QueryRejected(str(exc)) from exc
        finally:
            timer.cancel()
            con.close()
        truncated = len(rows) > self.max_rows
        return columns, [[jsonable(v) for v in r] for r in rows[: self.max_rows]], truncated

    def timeline(self, session_id: str, *, content: bool) -> list[dict[str, Any]]:
        """Every event of one session in the trail, oldest first; text only with `content`.

        Raises:
            HistoryError: the trail could not be read.
        """
        import duckdb

        from sinks.errors import QueryError
        from sinks.query import connect

        entries: list[dict[str, Any]] = []
        try:
            con = connect(self._trail)
        except (QueryError, duckdb.Error) as exc:
            raise HistoryError(f"cannot open the trail: {exc}") from exc
        try:
            for view, kind in _TIMELINE:
                cursor = con.execute(
                    f"SELECT * EXCLUDE (dt, hour) FROM {view} WHERE session_id = ? "
                    f"ORDER BY time LIMIT {_PER_KIND}",
                    [session_id],
                )
                names = [d[0] for d in cursor.description or []]
                for row in cursor.fetchall():
                    entry = {
                        k: jsonable(v)
                        for k, v in zip(names, row, strict=True)
                        if content or k not in CONTENT_COLUMNS
                    }
                    entry["kind"] = kind
                    entries.append(entry)
        except duckdb.Error as exc:
            raise HistoryError(f"cannot read the trail: {exc}") from exc
        finally:
            con.close()
        rank = {kind: i for i, (_, kind) in enumerate(_TIMELINE)}
        # Same instant (an inline verdict carries its request's time): request first.
        entries.sort(key=lambda e: (e.get("time") or "", rank[e["kind"]], e.get("event_id") or ""))
        return entries
