"""Records that are not valid events -> `DeadLetter` events, with the reason. Pure."""

from __future__ import annotations

from schemas import DeadLetter
from sinks.partition import ClosedFile

__all__ = ["dead_letters"]


def dead_letters(
    done: ClosedFile, *, source: str, consumer: str
) -> list[tuple[bytes | None, DeadLetter]]:
    """(Kafka key, event) for every bad record of a file; tombstones are not errors and are skipped."""
    out: list[tuple[bytes | None, DeadLetter]] = []
    for bad in done.bad:
        if bad.value is None:
            continue
        key = bad.key.decode(errors="replace") if bad.key else None
        event = DeadLetter(
            source=source,
            session_id=key or "unknown",
            topic=done.topic,
            partition=done.partition,
            offset=bad.offset,
            key=key,
            reason=bad.reason,
            consumer=consumer,
            value_excerpt=bad.value[:512].decode(errors="backslashreplace"),
        )
        out.append((bad.key, event))
    return out
