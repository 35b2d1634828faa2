"""Where sealed vault entries live: one small hash per session, with a TTL.

`VaultStore` is the Protocol (the few hash operations the vault needs);
`MemoryVaultStore` keeps hashes in this process (bounded: least recently used
sessions are evicted beyond `max_sessions`), `RedisVaultStore` in Redis so
several proxies share one session's placeholders. Every write refreshes the
session's TTL; an expired session reads as an empty hash. Store failures raise
`VaultUnavailable` (the proxy answers 503 by default: fail closed).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from proxy.pii.errors import VaultUnavailable
from proxy.redis_client import connect

__all__ = ["MemoryVaultStore", "RedisVaultStore", "VaultStore"]


class VaultStore(Protocol):
    """Per-session hashes of bytes; `add` never overwrites (first writer wins)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def read(self, session: str) -> dict[str, bytes]:
        """Every field of the session's hash (empty when unknown or expired)."""
        ...

    async def read_fields(self, session: str, names: list[str]) -> tuple[dict[str, bytes], int]:
        """The fields of `names` the session's hash holds, and how many fields it holds."""
        ...

    async def add(self, session: str, field: str, value: bytes) -> bytes:
        """Set `field` unless it exists; return the value now stored."""
        ...

    async def put(self, session: str, field: str, value: bytes) -> None:
        """Set `field` (revocation markers)."""
        ...

    async def next_number(self, session: str, kind: str) -> int:
        """The next placeholder number for entity type `kind` (1, 2, ...)."""
        ...


class MemoryVaultStore:
    """One process's vault hashes, bounded in sessions and expiring after `ttl_s` idle."""

    def __init__(self, ttl_s: float, max_sessions: int = 100_000) -> None:
        self._ttl = ttl_s
        self._max = max_sessions
        self._data: OrderedDict[str, tuple[float, dict[str, bytes]]] = OrderedDict()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def _hash(self, session: str, create: bool) -> dict[str, bytes] | None:
        now = time.monotonic()
        entry = self._data.get(session)
        if entry is not None and entry[0] <= now:
            del self._data[session]
            entry = None
        if entry is None:
            if not create:
                return None
            entry = (0.0, {})
            while len(self._data) >= self._max:
                self._data.popitem(last=False)
        self._data[session] = (now + self._ttl, entry[1])
        self._data.move_to_end(session)
        return entry[1]

    async def read(self, session: str) -> dict[str, bytes]:
        found = self._hash(session, create=False)
        return dict(found) if found else {}

    async def read_fields(self, session: str, names: list[str]) -> tuple[dict[str, bytes], int]:
        found = self._hash(session, create=False)
        if not found:
            return {}, 0
        return {n: found[n] for n in names if n in found}, len(found)

    async def add(self, session: str, field: str, value: bytes) -> bytes:
        h = self._hash(session, create=True)
        assert h is not None
        return h.setdefault(field, value)

    async def put(self, session: str, field: str, value: bytes) -> None:
        h = self._hash(session, create=True)
        assert h is not None
        h[field] = value

    async def next_number(self, session: str, kind: str) -> int:
        h = self._hash(session, create=True)
        assert h is not None
        n = int(h.get(f"n:{kind}", b"0")) + 1
        h[f"n:{kind}"] = str(n).encode()
        return n

    def expire_now(self, session: str) -> None:
        """Drop a session's hash as if its TTL had run out (operators, tests)."""
        self._data.pop(session, None)


class RedisVaultStore:
    """Vault hashes in Redis under `<prefix>pii:<session>`, TTL refreshed on every write."""

    def __init__(self, url: str, *, key_prefix: str, ttl_s: float) -> None:
        self._url = url
        self._p = f"{key_prefix}pii:"
        self._ttl = max(1, int(ttl_s))
        self._redis: Redis | None = None

    async def start(self) -> None:
        if self._redis is None:
            # No ping: a Redis that is down at start-up is a 503 per request, not a crash.
            self._redis = connect(self._url, decode_responses=False)

    async def stop(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    @property
    def _r(self) -> Redis:
        if self._redis is None:
            raise VaultUnavailable("the PII vault store is not started")
        return self._redis

    async def read(self, session: str) -> dict[str, bytes]:
        try:
            raw: dict[bytes, bytes] = await self._r.hgetall(self._p + session)  # type: ignore[assignment,misc]
        except (RedisError, OSError) as exc:
            raise VaultUnavailable(f"the PII vault store is unreachable: {exc}") from exc
        return {k.decode(): v for k, v in raw.items()}

    async def read_fields(self, session: str, names: list[str]) -> tuple[dict[str, bytes], int]:
        key = self._p + session
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.hmget(key, names)
                pipe.hlen(key)
                values, size = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise VaultUnavailable(f"the PII vault store is unreachable: {exc}") from exc
        return {n: v for n, v in zip(names, values, strict=True) if v is not None}, int(size)

    async def add(self, session: str, field: str, value: bytes) -> bytes:
        key = self._p + session
        try:
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hsetnx(key, field, value)
                pipe.hget(key, field)
                pipe.expire(key, self._ttl)
                _, stored, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise VaultUnavailable(f"the PII vault store is unreachable: {exc}") from exc
        return stored if isinstance(stored, bytes) else value

    async def put(self, session: str, field: str, value: bytes) -> None:
        key = self._p + session
        try:
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hset(key, field, value)
                pipe.expire(key, self._ttl)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise VaultUnavailable(f"the PII vault store is unreachable: {exc}") from exc

    async def next_number(self, session: str, kind: str) -> int:
        try:
            return int(await self._r.hincrby(self._p + session, f"n:{kind}", 1))
        except (RedisError, OSError) as exc:
            raise VaultUnavailable(f"the PII vault store is unreachable: {exc}") from exc
