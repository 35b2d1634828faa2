"""JSON Schema files for every event type, committed under `schemas/json/`."""

from __future__ import annotations

from pathlib import Path

import orjson
from pydantic import BaseModel

from schemas.errors import SchemaDriftError
from schemas.identity import KeyRecord
from schemas.topics import TABLES

__all__ = ["JSON_DIR", "check_drift", "export", "render"]

JSON_DIR = Path(__file__).with_name("json")


def render() -> dict[str, bytes]:
    """File name -> JSON Schema bytes, for every event type, derived from the models."""
    out: dict[str, bytes] = {}
    models: list[type[BaseModel]] = [*TABLES.values(), KeyRecord]  # key records: not a table
    for model in models:
        event_type = model.model_fields["type"].default
        schema = model.model_json_schema(mode="serialization")
        schema["$id"] = f"https://modeltrail.dev/schemas/{event_type}.json"
        out[f"{event_type}.json"] = (
            orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        )
    return out


def export(directory: Path = JSON_DIR) -> list[Path]:
    """Write every JSON Schema file; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in render().items():
        path = directory / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def check_drift(directory: Path = JSON_DIR) -> None:
    """Raise SchemaDriftError naming every file that differs from the models."""
    stale = [
        name
        for name, data in render().items()
        if not (directory / name).exists() or (directory / name).read_bytes() != data
    ]
    if stale:
        raise SchemaDriftError(
            f"JSON Schema out of date: {', '.join(stale)}; run `modeltrail schemas export`"
        )
