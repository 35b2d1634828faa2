"""Structured logs for the service entry points (`python -m proxy`, `python -m sinks`).

Shared here because every service depends on `schemas`; only entry points call
`configure_logging`. A record's `extra` fields become JSON keys next to the
stable event name, so callers never format values into the message.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Literal

__all__ = ["THIRD_PARTY", "JsonFormatter", "RepeatFilter", "configure_logging"]

#: Loggers of libraries that repeat one error per retry during an outage.
THIRD_PARTY = ("aiokafka", "faust", "mode", "kafka")

_TEXT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: UTC time, level, logger, event, `extra` fields, traceback."""

    _SKIP = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        data.update({k: v for k, v in vars(record).items() if k not in self._SKIP})
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class RepeatFilter(logging.Filter):
    """Let one record per (logger, level, message template) through every `window_s`.

    During a broker outage aiokafka logs the same connection error on every retry
    (hundreds a minute); the first goes through, the repeats are counted and the
    next one let through carries `repeats_suppressed`. Only `prefixes` are limited:
    modeltrail's own events are never dropped.
    """

    def __init__(
        self,
        window_s: float = 30.0,
        prefixes: tuple[str, ...] = THIRD_PARTY,
        *,
        max_keys: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.window_s = window_s
        self.prefixes = prefixes
        self.max_keys = max_keys
        self.clock = clock
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefixes):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        last = self._seen.get(key)
        if last is not None and now - last[0] < self.window_s:
            self._seen[key] = (last[0], last[1] + 1)
            return False
        if last is not None and last[1]:
            record.repeats_suppressed = last[1]
        if len(self._seen) >= self.max_keys and key not in self._seen:
            self._seen.clear()
        self._seen[key] = (now, 0)
        return True


def configure_logging(
    level: str | int = logging.INFO,
    log_format: Literal["text", "json"] = "json",
    quiet: Mapping[str, int] | None = None,
) -> None:
    """Send the root logger to stderr as JSON (or text); `quiet` raises chatty loggers' levels."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(_TEXT))
    handler.addFilter(RepeatFilter())
    if isinstance(level, str):
        level = level.upper()
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name, floor in (quiet or {}).items():
        logging.getLogger(name).setLevel(floor)
