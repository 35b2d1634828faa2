"""Records that are not valid events -> `DeadLetter` events, with the reason. Pure."""

from __future__ import annotations

from schemas import DeadLetter
from schemas.deadletter import dead_letter
from sinks.partition import ClosedFile

__all__ = ["dead_letters"]


def dead_letters(
    done: ClosedFile, *, source: str, consumer: str
) -> list[tuple[bytes | None, DeadLetter]]:
    """(Kafka key, event) for every bad record of a file; tombstones are not errors and are skipped."""
    return [
        (
            bad.key,
            dead_letter(
                topic=done.topic,
                partition=done.partition,
                offset=bad.offset,
                key=bad.key,
                value=bad.value,
                reason=bad.reason,
                consumer=consumer,
                source=source,
            ),
        )
        for bad in done.bad
        if bad.value is not None
    ]
