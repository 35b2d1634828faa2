from __future__ import annotations

import random

import pytest

from sinks.batch import HOUR_US, Limits, OpenFile, plan_cuts, take_whole

LIMITS = Limits(max_rows=4, max_bytes=100, max_span_us=10 * 60 * 1_000_000)


def files_of(
    sizes: list[int],
    times: list[int | None],
    limits: Limits,
    chunk_sizes: list[int],
    fast: bool = False,
) -> list[tuple[int, int]]:
    """Index ranges [a, b) of the files cut when the input arrives in the given chunks."""
    state, start, out, pos = OpenFile(), 0, [], 0
    for n in chunk_sizes:
        ts = times[pos : pos + n]
        valid = [t for t in ts if t is not None]
        span = (min(valid), max(valid)) if valid else None
        first = valid[0] if valid else None
        if fast and take_whole(state, n, sum(sizes[pos : pos + n]), first, span, limits):
            pos += n
            continue
        cuts, state = plan_cuts(state, sizes[pos : pos + n], ts, limits)
        for c in cuts:
            out.append((start, pos + c))
            start = pos + c
        pos += n
    out.append((start, pos))
    return out


def test_cuts_on_rows() -> None:
    assert files_of([1] * 10, [0] * 10, LIMITS, [10]) == [(0, 4), (4, 8), (8, 10)]


def test_cuts_on_bytes_and_an_oversized_record_stands_alone() -> None:
    assert files_of([60, 30, 20, 500, 5], [0] * 5, LIMITS, [5]) == [(0, 2), (2, 3), (3, 4), (4, 5)]


def test_cuts_at_the_hour_and_on_span() -> None:
    h = 10 * HOUR_US
    times = [h - 2, h - 1, h, h + 1]
    assert files_of([1] * 4, times, LIMITS, [4]) == [(0, 2), (2, 4)]
    minute = 60 * 1_000_000
    times = [h, h + 5 * minute, h + 11 * minute, h + 12 * minute]
    assert files_of([1] * 4, times, LIMITS, [4]) == [(0, 2), (2, 4)]


def test_records_without_time_never_cut_by_time() -> None:
    h = 3 * HOUR_US
    assert files_of([1, 1, 1], [None, h, None], LIMITS, [3]) == [(0, 3)]


def test_boundaries_do_not_depend_on_how_records_arrive() -> None:
    rng = random.Random(5)
    limits = Limits(max_rows=50, max_bytes=5_000, max_span_us=20 * 60 * 1_000_000)
    n = 2_000
    sizes = [rng.randrange(1, 400) for _ in range(n)]
    t, times = 7 * HOUR_US, []
    for _ in range(n):
        t += rng.randrange(0, 3_000_000)
        times.append(None if rng.random() < 0.05 else t + rng.randrange(-500_000, 500_000))
    whole = files_of(sizes, times, limits, [n])
    for _ in range(20):
        chunks, left = [], n
        while left:
            k = min(left, rng.randrange(1, 300))
            chunks.append(k)
            left -= k
        assert files_of(sizes, times, limits, chunks) == whole
        assert files_of(sizes, times, limits, chunks, fast=True) == whole
    assert len(whole) > 40


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Limits(0, 1, 1)
