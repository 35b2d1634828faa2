"""`modeltrail schemas`: export and check the JSON Schema files of every event type."""

from __future__ import annotations

from pathlib import Path

import typer

from schemas.errors import SchemaDriftError
from schemas.jsonschema import JSON_DIR, check_drift, export

app = typer.Typer(help="Event schemas: export or check the committed JSON Schema files.")


@app.command("export")
def export_cmd(
    directory: Path = typer.Option(JSON_DIR, "--dir", help="where to write the files"),
) -> None:
    """Write one JSON Schema file per event type (schemas/json/ by default)."""
    for path in export(directory):
        typer.echo(str(path))


@app.command("check")
def check_cmd(directory: Path = typer.Option(JSON_DIR, "--dir")) -> None:
    """Fail when the committed JSON Schema files differ from the models."""
    try:
        check_drift(directory)
    except SchemaDriftError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo("schemas up to date")
