"""Structured logs for the service entry points (`python -m proxy`, `python -m sinks`).

Shared here because every service depends on `schemas`; only entry points call
`configure_logging`. A record's `extra` fields become JSON keys next to the
stable event name, so callers never format values into the message.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal

__all__ = ["JsonFormatter", "configure_logging"]

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


def configure_logging(
    level: str | int = logging.INFO,
    log_format: Literal["text", "json"] = "json",
    quiet: Mapping[str, int] | None = None,
) -> None:
    """Send the root logger to stderr as JSON (or text); `quiet` raises chatty loggers' levels."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(_TEXT))
    if isinstance(level, str):
        level = level.upper()
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name, floor in (quiet or {}).items():
        logging.getLogger(name).setLevel(floor)
