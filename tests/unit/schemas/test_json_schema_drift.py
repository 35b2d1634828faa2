from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from schemas.errors import SchemaDriftError
from schemas.jsonschema import JSON_DIR, check_drift, export, render


def test_committed_json_schema_matches_models() -> None:
    """Fails when a model changes without `modeltrail schemas export`."""
    check_drift(JSON_DIR)


def test_drift_is_detected(tmp_path: Path) -> None:
    export(tmp_path)
    check_drift(tmp_path)
    name = next(iter(render()))
    doc = orjson.loads((tmp_path / name).read_bytes())
    doc["properties"]["added_without_export"] = {"type": "string"}
    (tmp_path / name).write_bytes(orjson.dumps(doc))
    with pytest.raises(SchemaDriftError, match=name):
        check_drift(tmp_path)


def test_every_event_type_has_a_file() -> None:
    names = {p.name for p in JSON_DIR.glob("*.json")}
    assert set(render()) <= names
    assert "llm.request.v1.json" in names and "session.command.v1.json" in names
