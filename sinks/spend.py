"""The `spend` view over the trail and the spend report (`modeltrail spend`).

`spend` has one row per response event with its identity, model, tokens and cost.
Files written before identity existed lack those columns: the view fills them
with NULL, so old trails stay queryable. Pure SQL text; `connect` runs it.
"""

from __future__ import annotations

from typing import Literal

import duckdb

__all__ = [
    "GROUPS",
    "SPEND_COLUMNS",
    "SPEND_TODAY_SQL",
    "SpendBy",
    "create_spend_view",
    "spend_report_sql",
]

SpendBy = Literal["team", "key", "user", "model", "session", "backend"]

#: column -> DuckDB type, in view order
SPEND_COLUMNS: dict[str, str] = {
    "time": "TIMESTAMPTZ",
    "session_id": "VARCHAR",
    "key_id": "VARCHAR",
    "team": "VARCHAR",
    "user": "VARCHAR",
    "backend": "VARCHAR",
    "model": "VARCHAR",
    "status_code": "BIGINT",
    "input_tokens": "BIGINT",
    "output_tokens": "BIGINT",
    "cached_input_tokens": "BIGINT",
    "total_tokens": "BIGINT",
    "cost_usd": "DOUBLE",
}

GROUPS: dict[str, str] = {
    "team": "team",
    "key": "key_id",
    "user": "user",
    "model": "model",
    "session": "session_id",
    "backend": "backend",
}


def create_spend_view(con: duckdb.DuckDBPyConnection) -> None:
    """`CREATE VIEW spend` over `responses`, NULL for columns older files lack."""
    present = {row[0] for row in con.execute("DESCRIBE responses").fetchall()}
    cols = ", ".join(
        f'"{name}"' if name in present else f'NULL::{kind} AS "{name}"'
        for name, kind in SPEND_COLUMNS.items()
    )
    con.execute(f"CREATE OR REPLACE VIEW spend AS SELECT {cols} FROM responses")


def spend_report_sql(by: SpendBy, since_s: float) -> str:
    """Spend per `by` over the last `since_s` seconds, most expensive first.

    `unpriced` counts answers with tokens but no cost (a model missing from the price table).
    """
    column = GROUPS[by]
    return (
        f'SELECT coalesce("{column}", \'-\') AS "{by}", count(*) AS responses, '
        "coalesce(sum(input_tokens), 0) AS input_tokens, "
        "coalesce(sum(output_tokens), 0) AS output_tokens, "
        "round(coalesce(sum(cost_usd), 0), 6) AS cost_usd, "
        "count(*) FILTER (WHERE cost_usd IS NULL AND total_tokens > 0) AS unpriced "
        f"FROM spend WHERE time >= now() - INTERVAL {float(since_s)} SECOND "
        f'GROUP BY 1 ORDER BY cost_usd DESC, "{by}"'
    )


#: Today's spend (UTC day) over the whole trail: every replica's answers.
SPEND_TODAY_SQL = "SELECT coalesce(sum(cost_usd), 0) FROM spend WHERE time >= current_date"
