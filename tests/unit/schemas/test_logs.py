from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from schemas.logs import JsonFormatter, RepeatFilter


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


def test_repeated_library_errors_are_rate_limited_with_a_count() -> None:
    now = [0.0]
    filt = RepeatFilter(window_s=30.0, clock=lambda: now[0])

    def rec(name: str, msg: str = "Unable connect to %r: %s") -> logging.LogRecord:
        return logging.makeLogRecord(
            {"name": name, "levelno": logging.ERROR, "levelname": "ERROR", "msg": msg,
             "args": ("127.0.0.1:9092", "refused")}
        )  # fmt: skip

    passed = [filt.filter(rec("aiokafka.conn")) for _ in range(700)]  # an outage's retries
    assert passed.count(True) == 1
    assert filt.filter(rec("aiokafka.conn", "another message"))  # a different error passes
    assert all(filt.filter(rec("proxy.enforcement.service")) for _ in range(50))  # ours: never
    now[0] = 31.0
    summary = rec("aiokafka.conn")
    assert filt.filter(summary) and summary.repeats_suppressed == 699  # type: ignore[attr-defined]
