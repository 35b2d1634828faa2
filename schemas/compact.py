"""Give memory back after a flood: CPython never shrinks a dict's or set's table on delete.

A map that held 200,000 sessions keeps a 200,000-slot table after they expire,
whatever `len()` says. Every expiring per-session structure calls `compacted`
after a sweep: once it holds under a quarter of its peak it is rebuilt at its
current size (insertion order kept), in one pass over what is left.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TypeVar

__all__ = ["compacted"]

C = TypeVar("C", bound=Collection[object])

_MIN_PEAK = 1024


def compacted(container: C, peak: int) -> tuple[C, int]:
    """`container` (rebuilt when it shrank below a quarter of `peak`) and the new peak."""
    size = len(container)
    if peak > _MIN_PEAK and size < peak // 4:
        return type(container)(container), size  # type: ignore[call-arg]
    return container, max(peak, size)
