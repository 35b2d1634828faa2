"""The one dead-letter builder: an unprocessable Kafka record -> a `DeadLetter` event. Pure.

Rules, the same for every consumer (proxy enforcement, sinks, streams):

- excerpt: the first `EXCERPT_BYTES` (512) bytes of the value, every byte that is not
  printable ASCII escaped (``\\n``, ``\\t``, ``\\r``, ``\\xNN``) and a literal backslash
  doubled, so the excerpt is one line of plain ASCII that cannot be mistaken for an
  escape; the result is cut to at most `EXCERPT_BYTES` characters, never inside an
  escape. Enough to debug a producer, too little to copy a prompt out of the trail.
- session id: the Kafka key when it is non-empty valid UTF-8, else ``"unknown"``. The
  `key` field keeps the decoded key, or its escaped excerpt when it is not UTF-8.
- reason: cut to `REASON_CHARS` (1000) characters.
- event id: a fresh UUIDv7 by default; with ``stable_id=True`` a UUIDv7 whose time is
  `time` and whose other bits hash ``topic|partition|offset``, so a replay after a crash
  republishes the same id and sinks or subscribers dedupe it.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

from schemas.events import DeadLetter, utcnow
from schemas.ids import uuid7

__all__ = [
    "EXCERPT_BYTES",
    "REASON_CHARS",
    "UNKNOWN_SESSION",
    "dead_letter",
    "excerpt",
    "session_of",
    "stable_id",
]

#: Bytes of the offending value kept, and the maximum length of the escaped excerpt.
EXCERPT_BYTES = 512
#: Characters of the reason kept (a decode error can quote its input at length).
REASON_CHARS = 1000
#: Session id of a dead letter whose record has no usable key.
UNKNOWN_SESSION = "unknown"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x5C: "\\\\"}


def _escape(byte: int) -> str:
    if byte in _NAMED:
        return _NAMED[byte]
    if 0x20 <= byte < 0x7F:
        return chr(byte)
    return f"\\x{byte:02x}"


def excerpt(value: bytes | None, limit: int = EXCERPT_BYTES) -> str:
    """The first `limit` bytes, escaped (see the module doc), at most `limit` characters."""
    if not value:
        return ""
    out: list[str] = []
    size = 0
    for byte in value[:limit]:
        piece = _escape(byte)
        if size + len(piece) > limit:
            break
        out.append(piece)
        size += len(piece)
    return "".join(out)


def session_of(key: bytes | None) -> str:
    """The session id a record's Kafka key names: the key if valid UTF-8, else "unknown"."""
    if not key:
        return UNKNOWN_SESSION
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return UNKNOWN_SESSION


def stable_id(time_ms: int, name: str) -> str:
    """A UUIDv7 whose time is `time_ms` and whose other bits hash `name`: deterministic."""
    digest = hashlib.sha256(name.encode()).digest()
    value = (time_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (int.from_bytes(digest[:2], "big") & 0xFFF) << 64
    value |= 0b10 << 62
    value |= int.from_bytes(digest[2:10], "big") & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def _key_text(key: bytes | None) -> str | None:
    if not key:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return excerpt(key)


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
    time: datetime | None = None,
    stable: bool = False,
) -> DeadLetter:
    """Describe a record `consumer` could not decode or process.

    Args:
        time: the event time (timezone-aware); now when None. Pass the Kafka record's
            timestamp to make the event reproducible.
        stable: derive the event id from (`time`, topic, partition, offset) instead of
            drawing a fresh one; requires `time`.

    Raises:
        ValueError: `stable` without `time`.
    """
    if stable and time is None:
        raise ValueError("a stable dead-letter id needs the record's time")
    when = time if time is not None else utcnow()
    event_id = (
        stable_id((when - _EPOCH) // timedelta(milliseconds=1), f"{topic}|{partition}|{offset}")
        if stable
        else uuid7()
    )
    return DeadLetter(
        event_id=event_id,
        time=when,
        source=source,
        session_id=session_of(key),
        topic=topic,
        partition=partition,
        offset=offset,
        key=_key_text(key),
        reason=reason[:REASON_CHARS],
        consumer=consumer,
        value_excerpt=excerpt(value),
    )
