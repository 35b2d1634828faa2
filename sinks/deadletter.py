"""Records that are not valid events, and files the store refused for good -> `DeadLetter`
events, with the reason. Pure."""

from __future__ import annotations

from schemas import DeadLetter
from schemas.deadletter import dead_letter
from sinks.partition import ClosedFile

__all__ = ["dead_letters", "unstored_file"]


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


def unstored_file(
    done: ClosedFile, error: BaseException, *, source: str, consumer: str
) -> tuple[bytes | None, DeadLetter]:
    """(Kafka key, event) recording that a file's offset range was not stored, and why.

    For a non-retriable failure: the sink commits past the range, and this letter keeps
    the gap in the trail on record (first offset in `offset`, the range in `reason`).
    """
    return (
        None,
        dead_letter(
            topic=done.topic,
            partition=done.partition,
            offset=done.start_offset,
            key=None,
            value=None,
            reason=f"offsets {done.start_offset}-{done.end_offset} not stored: {error}",
            consumer=consumer,
            source=source,
        ),
    )
