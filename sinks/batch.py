"""Deterministic file boundaries: where one Parquet file ends and the next begins.

Pure: the cut points are a function of the input sequence only (record count,
input bytes, event time), never of the clock or of how the records arrived in
fetches. So a replay of the same offsets cuts the same files, which is what
makes the object keys (and hence the trail) exactly-once. The one boundary that
is *not* a function of the input, the idle flush, is handled by the consumer
(see `sinks.consumer`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["HOUR_US", "Limits", "OpenFile", "hour_bucket", "plan_cuts", "take_whole"]

HOUR_US = 3_600_000_000


def hour_bucket(time_us: int) -> int:
    """Hours since the epoch: files never straddle an hour (the key's `hour=` partition)."""
    return time_us // HOUR_US


@dataclass(frozen=True, slots=True)
class Limits:
    """When a file is full."""

    max_rows: int
    max_bytes: int
    max_span_us: int

    def __post_init__(self) -> None:
        if self.max_rows < 1 or self.max_bytes < 1 or self.max_span_us < 1:
            raise ValueError("limits must be positive")


@dataclass(slots=True)
class OpenFile:
    """What the file being filled holds so far."""

    rows: int = 0
    bytes: int = 0
    first_time_us: int | None = None
    bucket: int | None = None

    def add(self, size: int, time_us: int | None) -> None:
        self.rows += 1
        self.bytes += size
        if time_us is not None and self.first_time_us is None:
            self.first_time_us = time_us
            self.bucket = hour_bucket(time_us)

    def fits(self, size: int, time_us: int | None, limits: Limits) -> bool:
        """Whether one more record (of `size` input bytes, at `time_us`) belongs here."""
        if self.rows == 0:
            return True
        if self.rows + 1 > limits.max_rows or self.bytes + size > limits.max_bytes:
            return False
        if time_us is None or self.first_time_us is None:
            return True
        if hour_bucket(time_us) != self.bucket:
            return False
        return abs(time_us - self.first_time_us) <= limits.max_span_us


def plan_cuts(
    state: OpenFile,
    sizes: Sequence[int],
    times_us: Sequence[int | None],
    limits: Limits,
) -> tuple[list[int], OpenFile]:
    """Split a chunk of consecutive records of one partition into files.

    `state` is the file open before the chunk. Returns the indices in the chunk
    where a new file starts, and the file open after it. `times_us` is None for
    a record without a usable event time (it never forces a cut by time). The
    caller's `state` is updated in place for the records before the first cut.
    """
    cuts: list[int] = []
    current = state
    for i, (size, t) in enumerate(zip(sizes, times_us, strict=True)):
        if not current.fits(size, t, limits):
            cuts.append(i)
            current = OpenFile()
        current.add(size, t)
    return cuts, current


def take_whole(
    state: OpenFile,
    rows: int,
    size: int,
    first_us: int | None,
    span_us: tuple[int, int] | None,
    limits: Limits,
) -> bool:
    """Fast path: add a whole chunk to `state` if `plan_cuts` would cut nowhere in it.

    `first_us` is the chunk's first event time, `span_us` its (min, max). When
    this returns False nothing changed and the caller runs `plan_cuts`; both
    give the same files.
    """
    if state.rows + rows > limits.max_rows or state.bytes + size > limits.max_bytes:
        return False
    if span_us is not None:
        anchor = state.first_time_us if state.first_time_us is not None else first_us
        assert anchor is not None
        lo, hi = span_us
        bucket = hour_bucket(anchor)
        if hour_bucket(lo) != bucket or hour_bucket(hi) != bucket:
            return False
        if hi - anchor > limits.max_span_us or anchor - lo > limits.max_span_us:
            return False
    state.rows += rows
    state.bytes += size
    if state.first_time_us is None and first_us is not None:
        state.first_time_us = first_us
        state.bucket = hour_bucket(first_us)
    return True
