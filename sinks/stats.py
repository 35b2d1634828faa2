"""The sink's counters (`Sink.stats`), read by its bench and tests."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SinkStats"]


@dataclass
class SinkStats:
    """Counters since start."""

    events: int = 0
    files: int = 0
    bytes: int = 0
    dead_letters: int = 0
    store_retries: int = 0
    conflicts: int = 0  # files whose key held different records (set aside, never replaced)
    set_aside: int = 0  # replays that got further than an uncommitted file: written beside it
    fenced: int = 0  # files dropped because another member had committed past them
    log_resets: int = 0  # partitions found replaced under the sink (broker reset), read again
    first_input: float | None = None  # perf_counter() of the first record ingested
