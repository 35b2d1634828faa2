"""Dead letters: a message the worker cannot decode or judge becomes data, not a crash.

The dead letter's id derives from (topic, partition, offset), so a replay after a
crash republishes the same id and a sink or subscriber dedupes it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.events import DeadLetter
from streams.decisions import stable_event_id

__all__ = ["EXCERPT_BYTES", "dead_letter", "excerpt"]

#: Bytes of the offending value kept (escaped) in the dead letter: enough to debug a
#: producer, too little to copy a prompt out of the trail.
EXCERPT_BYTES = 256
_UNKNOWN_SESSION = "unknown"


def excerpt(value: bytes | None, limit: int = EXCERPT_BYTES) -> str:
    """The first `limit` bytes, printable ASCII kept and everything else escaped."""
    if not value:
        return ""
    text = value[:limit].decode("ascii", errors="backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def dead_letter(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    reason: str,
    consumer: str,
    source: str,
    timestamp_ms: int,
) -> DeadLetter:
    """Describe an unprocessable message; `timestamp_ms` is the Kafka record's timestamp."""
    session = key.decode("utf-8", errors="replace") if key else _UNKNOWN_SESSION
    return DeadLetter(
        event_id=stable_event_id(timestamp_ms, f"{topic}|{partition}|{offset}"),
        time=datetime.fromtimestamp(timestamp_ms / 1000, UTC),
        source=source,
        session_id=session or _UNKNOWN_SESSION,
        topic=topic,
        partition=partition,
        offset=offset,
        key=session if key else None,
        reason=reason[:1000],
        consumer=consumer,
        value_excerpt=excerpt(value),
    )
