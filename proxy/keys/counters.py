"""Shared counters for rate limits and budgets: memory (one replica) or Redis (many).

Each counter is one number under a key that names its period (`...:<minute>`,
`...:<day>`, `...:<month>`), so a period resets by moving to a new key and the
old one expires. Redis makes `INCR` atomic across replicas: with N replicas
sharing it, a limit of R requests per minute admits exactly R per minute window.
One round trip per call (a non-transactional pipeline).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from proxy.errors import ProxyError
from proxy.redis_client import connect

__all__ = ["Counters", "CountersUnavailable", "MemoryCounters", "RedisCounters"]

Incr = tuple[str, float, int]  # key, amount, ttl seconds


class CountersUnavailable(ProxyError):
    """503: the limit counters (Redis) cannot be reached; limits fail closed."""

    status = 503
    error_type = "limits_unavailable"
    retriable = True


class Counters(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def hit_and_read(self, hits: Sequence[Incr], reads: Sequence[str]) -> list[float]:
        """Add to `hits`, read `reads`; return the hits' new values then the reads' values."""

    async def add(self, items: Sequence[Incr]) -> None:
        """Add amounts (tokens, USD) to counters."""


class MemoryCounters:
    """In-process counters with expiry; bounded by pruning expired keys."""

    def __init__(self, max_keys: int = 200_000) -> None:
        self._values: dict[str, tuple[float, float]] = {}
        self._max = max_keys

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def _bump(self, key: str, amount: float, ttl: int, now: float) -> float:
        value, expires = self._values.get(key, (0.0, 0.0))
        if expires <= now:
            value = 0.0
        value += amount
        if len(self._values) >= self._max and key not in self._values:
            self._prune(now)
        self._values[key] = (value, now + ttl)
        return value

    def _prune(self, now: float) -> None:
        for k in [k for k, (_, exp) in self._values.items() if exp <= now]:
            del self._values[k]
        if len(self._values) >= self._max:
            self._values.clear()

    def _read(self, key: str, now: float) -> float:
        value, expires = self._values.get(key, (0.0, 0.0))
        return value if expires > now else 0.0

    async def hit_and_read(self, hits: Sequence[Incr], reads: Sequence[str]) -> list[float]:
        now = time.monotonic()
        out = [self._bump(k, a, ttl, now) for k, a, ttl in hits]
        out.extend(self._read(k, now) for k in reads)
        return out

    async def add(self, items: Sequence[Incr]) -> None:
        now = time.monotonic()
        for k, a, ttl in items:
            self._bump(k, a, ttl, now)


class RedisCounters:
    """Counters in Redis under `prefix` (shared by every replica)."""

    def __init__(self, url: str, prefix: str) -> None:
        self._url = url
        self._prefix = prefix
        self._redis: Redis | None = None

    async def start(self) -> None:
        if self._redis is None:
            self._redis = connect(self._url, socket_timeout=2.0)

    async def stop(self) -> None:
        redis, self._redis = self._redis, None
        if redis is not None:
            await redis.aclose()

    def _client(self) -> Redis:
        if self._redis is None:
            raise CountersUnavailable("limit counters not started")
        return self._redis

    async def hit_and_read(self, hits: Sequence[Incr], reads: Sequence[str]) -> list[float]:
        pipe = self._client().pipeline(transaction=False)
        for key, amount, ttl in hits:
            pipe.incrbyfloat(self._prefix + key, amount)
            pipe.expire(self._prefix + key, ttl)
        for key in reads:
            pipe.get(self._prefix + key)
        try:
            raw = await pipe.execute()
        except RedisError as exc:
            raise CountersUnavailable(f"limit counters unavailable: {exc}") from exc
        values = [float(v) for v in raw[0 : 2 * len(hits) : 2]]
        values.extend(float(v) if v is not None else 0.0 for v in raw[2 * len(hits) :])
        return values

    async def add(self, items: Sequence[Incr]) -> None:
        if not items:
            return
        pipe = self._client().pipeline(transaction=False)
        for key, amount, ttl in items:
            pipe.incrbyfloat(self._prefix + key, amount)
            pipe.expire(self._prefix + key, ttl)
        try:
            await pipe.execute()
        except RedisError as exc:
            raise CountersUnavailable(f"limit counters unavailable: {exc}") from exc
