"""`modeltrail query`, `modeltrail athena-ddl` and `modeltrail tail`: read the audit trail."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from datetime import date, datetime
from typing import Any, Literal

import typer

app = typer.Typer(help="Query the Parquet trail, print Athena DDL, tail a topic live.")

_SEVERITY = {"info": 1, "warning": 2, "high": 3, "critical": 4}
_ALIASES = {
    "requests": "requests",
    "responses": "responses",
    "stream-windows": "stream_windows",
    "stream_windows": "stream_windows",
    "violations": "violations",
    "commands": "commands",
    "session-commands": "commands",
    "session_commands": "commands",
    "deadletter": "deadletter",
}


def _settings(target: str | None) -> Any:
    from sinks.settings import SinkSettings

    return SinkSettings(target=target) if target else SinkSettings()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@app.command("query")
def query(
    sql: str = typer.Argument(
        ...,
        help="SQL over views requests, responses, violations, "
        "session_commands, stream_windows, deadletter, sessions, spend",
    ),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json"),
    target: str | None = typer.Option(
        None, "--target", help="directory or s3://bucket/prefix (default: MODELTRAIL_SINK__TARGET)"
    ),
) -> None:
    """Run SQL with DuckDB over the Parquet trail."""
    from sinks.errors import QueryError
    from sinks.query import run_query

    if fmt not in ("table", "csv", "json"):
        raise typer.BadParameter("format must be table, csv or json")
    try:
        columns, rows = run_query(_settings(target), sql)
    except QueryError as exc:
        typer.echo(f"query failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    if fmt == "json":
        typer.echo(
            json.dumps(
                [dict(zip(columns, map(_jsonable, r), strict=True)) for r in rows], default=str
            )
        )
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(*columns)
        for r in rows:
            table.add_row(*("" if v is None else str(v) for v in r))
        Console().print(table)


@app.command("athena-ddl")
def athena_ddl_cmd(
    target: str | None = typer.Option(None, "--target", help="s3://bucket/prefix"),
    database: str = typer.Option("modeltrail", "--database"),
) -> None:
    """Print CREATE EXTERNAL TABLE statements (with partition projection) for Athena."""
    from sinks.athena import athena_ddl

    try:
        typer.echo(athena_ddl(_settings(target).target, database=database), nl=False)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


async def _tail(
    topic: str,
    session: str | None,
    severity: str | None,
    from_beginning: bool,
    limit: int | None,
    fmt: Literal["text", "json"],
) -> None:
    from aiokafka import AIOKafkaConsumer

    from schemas import DecodeError, KafkaSettings, decode
    from schemas.kafka import stop_consumer

    kafka = KafkaSettings()
    alias = _ALIASES.get(topic)
    name = getattr(kafka.topics, alias) if alias else topic
    floor = _SEVERITY[severity] if severity else 0
    consumer = AIOKafkaConsumer(
        name,
        **kafka.client_kwargs(),  # type: ignore[arg-type]
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=20,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    await consumer.start()
    shown = 0
    try:
        async for record in consumer:
            try:
                event = decode(record.value or b"")
            except DecodeError as exc:
                typer.echo(
                    f"undecodable {record.topic}[{record.partition}]@{record.offset}: {exc}",
                    err=True,
                )
                continue
            if session and event.session_id != session:
                continue
            if floor and _SEVERITY.get(getattr(event, "severity", ""), 0) < floor:
                continue
            if fmt == "json":
                typer.echo(event.model_dump_json())
            else:
                detail = " ".join(
                    f"{k}={getattr(event, k)}"
                    for k in ("rule_id", "severity", "action", "command", "model", "status_code")
                    if getattr(event, k, None) is not None
                )
                typer.echo(
                    f"{event.time:%H:%M:%S} {event.type} session={event.session_id} {detail}"
                )
            shown += 1
            if limit and shown >= limit:
                return
    finally:
        await stop_consumer(consumer)


@app.command("tail")
def tail(
    topic: str = typer.Argument(
        ...,
        help="violations, requests, responses, commands, "
        "deadletter, stream-windows, or a topic name",
    ),
    session: str | None = typer.Option(None, "--session", help="only this session"),
    severity: str | None = typer.Option(
        None, "--severity", help="at least: info, warning, high, critical"
    ),
    from_beginning: bool = typer.Option(False, "--from-beginning"),
    limit: int | None = typer.Option(None, "--max", help="stop after this many events"),
    fmt: str = typer.Option("text", "--format", "-f", help="text or json"),
) -> None:
    """Print events of a topic live (MODELTRAIL_KAFKA__* says where the broker is)."""
    if severity and severity not in _SEVERITY:
        raise typer.BadParameter(f"severity must be one of {', '.join(_SEVERITY)}")
    if fmt not in ("text", "json"):
        raise typer.BadParameter("format must be text or json")
    try:
        asyncio.run(_tail(topic, session, severity, from_beginning, limit, fmt))  # type: ignore[arg-type]
    except KeyboardInterrupt:
        pass
