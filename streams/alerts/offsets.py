"""Which offsets may be committed while deliveries finish out of order. Pure.

A record's offset becomes committable once every delivery it started is done
(delivered or dead-lettered) and so is every earlier record of its partition.
That is what makes delivery at-least-once: a crash replays from the first record
with an unfinished delivery.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["OffsetTracker"]

Partition = tuple[str, int]


class OffsetTracker:
    """Per partition: the offsets with deliveries outstanding, in order."""

    def __init__(self) -> None:
        self._pending: dict[Partition, OrderedDict[int, int]] = {}
        self._seen: dict[Partition, int] = {}

    def add(self, tp: Partition, offset: int, deliveries: int) -> None:
        """Record `offset` with `deliveries` outstanding (0: done already)."""
        self._seen[tp] = max(offset, self._seen.get(tp, -1))
        if deliveries > 0:
            self._pending.setdefault(tp, OrderedDict())[offset] = deliveries

    def done(self, tp: Partition, offset: int) -> None:
        """One delivery of `offset` finished."""
        pending = self._pending.get(tp)
        if pending is None or offset not in pending:
            return
        pending[offset] -= 1
        if pending[offset] <= 0:
            del pending[offset]

    def committable(self) -> dict[Partition, int]:
        """Next offset to commit per partition (Kafka semantics: the first not yet done)."""
        out: dict[Partition, int] = {}
        for tp, last in self._seen.items():
            pending = self._pending.get(tp)
            out[tp] = next(iter(pending)) if pending else last + 1
        return out

    def outstanding(self) -> int:
        return sum(sum(p.values()) for p in self._pending.values())

    def forget(self, tp: Partition) -> None:
        """A revoked partition: its new owner redelivers what was not committed."""
        self._pending.pop(tp, None)
        self._seen.pop(tp, None)
