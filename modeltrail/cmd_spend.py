"""`modeltrail spend`: spend per team, key, user, model, session or backend.

From the Parquet trail by default; with `--live`, from the streams worker's spend
table (its compacted changelog topic on Kafka, read to its end: current to the
last commit of the worker, whatever the number of workers, and kept for the
worker's `spend_days`).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import typer

from modeltrail.cmd_keys import parse_duration

if TYPE_CHECKING:
    from aiokafka import ConsumerRecord

    from streams.settings import StreamsSettings
    from streams.spend import Dimension

__all__ = ["live_spend", "spend"]

LIVE_COLUMNS = ["id", "cost_usd", "input_tokens", "output_tokens", "requests", "unpriced"]


async def live_spend(
    settings: StreamsSettings, by: Dimension, since_day: str, *, timeout_s: float = 30.0
) -> list[list[Any]]:
    """Rows (LIVE_COLUMNS) of the spend table per `by` id since `since_day`, costliest first.

    Raises:
        EnforcementError: the changelog topic cannot be read (no worker ever ran).
    """
    from proxy.enforcement.commands import TopicFollower
    from streams.app import spend_changelog
    from streams.spend import fold_rows

    seen: list[tuple[bytes, bytes | None]] = []

    async def keep(record: ConsumerRecord[bytes, bytes]) -> None:
        if record.key is not None:
            seen.append((record.key, record.value))

    reader = TopicFollower(
        settings.kafka,
        spend_changelog(settings),
        keep,
        from_beginning=True,
        replay_timeout_s=timeout_s,
    )
    await reader.start()  # returns once the replay reached the end
    await reader.stop()
    totals = fold_rows(seen, by, since_day=since_day)
    ordered = sorted(totals.items(), key=lambda kv: (-kv[1].cost_usd, kv[0]))
    return [
        [ident, round(r.cost_usd, 6), r.input_tokens, r.output_tokens, r.requests, r.unpriced]
        for ident, r in ordered
    ]


def _cell(value: object) -> str:
    if value is None:
        return ""
    return f"{value:.6f}" if isinstance(value, float) else str(value)


def spend(
    by: str = typer.Option("team", "--by", help="team, key, user, model, session or backend"),
    since: str = typer.Option("7d", "--since", help="how far back, e.g. 24h, 7d, 30d"),
    as_json: bool = typer.Option(False, "--json"),
    live: bool = typer.Option(
        False, "--live", help="from the streams worker's spend table (whole UTC days) on Kafka"
    ),
    target: str | None = typer.Option(
        None, "--target", help="directory or s3://bucket/prefix (default: MODELTRAIL_SINK__TARGET)"
    ),
) -> None:
    """Spend (USD, from the price table) and tokens over the Parquet trail (or `--live`)."""
    from sinks.errors import QueryError
    from sinks.query import run_query
    from sinks.settings import SinkSettings
    from sinks.spend import GROUPS, spend_report_sql

    rows: list[Any]
    if live:
        from proxy.enforcement.errors import EnforcementError
        from streams.settings import StreamsSettings
        from streams.spend import DIMENSIONS

        if by not in DIMENSIONS:
            raise typer.BadParameter(f"--live --by must be one of {', '.join(DIMENSIONS)}")
        since_day = (datetime.now(UTC) - timedelta(seconds=parse_duration(since))).strftime(
            "%Y-%m-%d"
        )
        try:
            rows = asyncio.run(live_spend(StreamsSettings(), by, since_day))  # type: ignore[arg-type]
        except EnforcementError as exc:
            typer.echo(f"spend table not readable: {exc}", err=True)
            raise typer.Exit(1) from exc
        columns = [by, *LIVE_COLUMNS[1:]]
        title = f"spend by {by} since {since_day} (live, streams table)"
    else:
        if by not in GROUPS:
            raise typer.BadParameter(f"--by must be one of {', '.join(GROUPS)}")
        settings = SinkSettings(target=target) if target else SinkSettings()
        try:
            columns, found = run_query(settings, spend_report_sql(by, parse_duration(since)))  # type: ignore[arg-type]
            rows = list(found)
        except QueryError as exc:
            typer.echo(f"query failed: {exc}", err=True)
            raise typer.Exit(1) from exc
        title = f"spend by {by}, last {since}"
    if as_json:
        out: list[dict[str, Any]] = [dict(zip(columns, r, strict=True)) for r in rows]
        typer.echo(json.dumps(out, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, title=title, title_justify="left")
    for r in rows:
        table.add_row(*(_cell(v) for v in r))
    Console().print(table)
