"""One session's audit rows from the Parquet trail, through `sinks.query` (DuckDB)."""

from __future__ import annotations

from typing import Any

from sinks.errors import QueryError
from sinks.query import run_query
from sinks.settings import SinkSettings

__all__ = ["audit_rows", "audit_sql"]


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def audit_sql(session_id: str) -> str:
    """SQL over the trail's views: every event of one session, oldest first, no bodies."""
    sid = _quote(session_id)
    return f"""
    SELECT time, 'request' AS kind, method || ' ' || path AS what,
           coalesce(model, '') || CASE WHEN stream THEN ' (stream)' ELSE '' END AS detail,
           event_id
    FROM requests WHERE session_id = {sid}
    UNION ALL
    SELECT time, 'response', status_code::VARCHAR || ' ' || outcome,
           trim(coalesce(model, '') || ' ' || coalesce(total_tokens::VARCHAR || ' tokens', '')),
           event_id
    FROM responses WHERE session_id = {sid}
    UNION ALL
    SELECT time, 'violation', rule_id, severity || ' ' || action || ' ' || owasp, event_id
    FROM violations WHERE session_id = {sid}
    UNION ALL
    SELECT time, 'command', command,
           coalesce(block_mode, '') || ' ' || coalesce(rule_id, '') || ' by ' || issuer, event_id
    FROM session_commands WHERE session_id = {sid}
    ORDER BY time, CASE kind WHEN 'request' THEN 0 WHEN 'response' THEN 1
                             WHEN 'violation' THEN 2 ELSE 3 END, what
    """


def audit_rows(
    trail: str, session_id: str, *, s3_endpoint: str | None = None
) -> list[dict[str, Any]]:
    """Rows {time, kind, what, detail, event_id} of one session; [] while nothing is written.

    An S3 trail takes its credentials from `MODELTRAIL_SINK__S3_*` like the sink.
    """
    settings = SinkSettings(target=trail)
    if s3_endpoint:
        settings = settings.model_copy(update={"s3_endpoint_url": s3_endpoint})
    try:
        columns, rows = run_query(settings, audit_sql(session_id))
    except QueryError:
        return []
    return [dict(zip(columns, row, strict=True)) for row in rows]
