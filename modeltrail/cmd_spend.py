"""`modeltrail spend`: spend per team, key, user, model, session or backend from the trail."""

from __future__ import annotations

import json
from typing import Any

import typer

from modeltrail.cmd_keys import parse_duration

__all__ = ["spend"]


def spend(
    by: str = typer.Option("team", "--by", help="team, key, user, model, session or backend"),
    since: str = typer.Option("7d", "--since", help="how far back, e.g. 24h, 7d, 30d"),
    as_json: bool = typer.Option(False, "--json"),
    target: str | None = typer.Option(
        None, "--target", help="directory or s3://bucket/prefix (default: MODELTRAIL_SINK__TARGET)"
    ),
) -> None:
    """Spend (USD, from the price table) and tokens over the Parquet trail."""
    from sinks.errors import QueryError
    from sinks.query import run_query
    from sinks.settings import SinkSettings
    from sinks.spend import GROUPS, spend_report_sql

    if by not in GROUPS:
        raise typer.BadParameter(f"--by must be one of {', '.join(GROUPS)}")
    settings = SinkSettings(target=target) if target else SinkSettings()
    try:
        columns, rows = run_query(settings, spend_report_sql(by, parse_duration(since)))  # type: ignore[arg-type]
    except QueryError as exc:
        typer.echo(f"query failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        out: list[dict[str, Any]] = [dict(zip(columns, r, strict=True)) for r in rows]
        typer.echo(json.dumps(out, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, title=f"spend by {by}, last {since}", title_justify="left")
    for r in rows:
        table.add_row(*("" if v is None else str(v) for v in r))
    Console().print(table)
