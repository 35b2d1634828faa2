from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from schemas.logs import JsonFormatter


def _record(msg: str, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "sinks.consumer", "levelname": "INFO", "msg": msg})
    record.__dict__.update(extra)
    return record


def test_json_lines_carry_the_event_name_and_extra_fields() -> None:
    line = JsonFormatter().format(_record("batch_flushed", rows=120, key="trail/x.parquet"))
    data = json.loads(line)
    stamp = datetime.fromisoformat(data.pop("time"))
    assert stamp.tzinfo is not None and abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    assert data == {
        "level": "INFO",
        "logger": "sinks.consumer",
        "event": "batch_flushed",
        "rows": 120,
        "key": "trail/x.parquet",
    }


def test_a_traceback_is_one_field() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record("upload_failed")
        record.exc_info = sys.exc_info()
    data = json.loads(JsonFormatter().format(record))
    assert data["event"] == "upload_failed"
    assert "ValueError: boom" in data["exc"] and "exc_info" not in data
