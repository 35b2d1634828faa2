"""Today's spend for the dashboard, from the trail's `spend` view (every replica's answers).

The overview polls every few seconds; the trail is read at most once per `ttl_s`
(DuckDB over Parquet is not free), off the event loop. A trail that cannot be
read answers None ("n/a"), never an error.
"""

from __future__ import annotations

import asyncio
import time

from sinks.errors import QueryError
from sinks.query import run_query
from sinks.settings import TrailLocation
from sinks.spend import SPEND_TODAY_SQL

__all__ = ["TrailSpend"]


class TrailSpend:
    """A `SpendSource`: USD spent today (UTC), cached for `ttl_s`."""

    def __init__(self, trail: TrailLocation, ttl_s: float = 30.0) -> None:
        self._trail = trail
        self._ttl = ttl_s
        self._at = -ttl_s
        self._value: float | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> float | None:
        async with self._lock:
            if time.monotonic() - self._at >= self._ttl:
                self._value = await asyncio.to_thread(self._read)
                self._at = time.monotonic()
            return self._value

    def _read(self) -> float | None:
        try:
            _, rows = run_query(self._trail, SPEND_TODAY_SQL)
        except QueryError:
            return None
        return round(float(rows[0][0]), 6) if rows else 0.0
