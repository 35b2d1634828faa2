"""Session states in front of the changelog-backed faust table (write-behind, with a TTL).

Guarantees:
* `load` hands out a private copy, so a batch that fails half-way leaves nothing behind;
* `put` takes states whose outputs the broker has already acknowledged;
* `flush` writes every state changed since the last flush into the table (one
  changelog record per session) and must run before each offset commit: then a
  committed offset never outruns its state, and whatever was put but not flushed
  when the worker dies is rebuilt from the uncommitted events it replays.
* `sweep(now)` deletes the states idle past `ttl_s` (and past the end of their
  kill) from the table, which writes changelog tombstones: a flood of one-off
  session ids does not grow the table, its changelog or a recovery for ever.
  Expiry times sit in coarse time buckets, so a sweep touches only the expired
  sessions, never the whole table. Only sessions this worker put since its last
  assignment are swept (a key of a partition now owned elsewhere is never
  deleted); a session recovered from the changelog and never seen again stays
  until a worker sees it once more.

Compared with a table write per session per batch, this is one per session per
commit interval, and states stay decoded between batches.
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping

from schemas.compact import compacted
from streams.state import SessionState

__all__ = ["SessionStateCache"]

_BUCKET_S = 10.0


class SessionStateCache:
    """Decoded session states, cached; the table (bytes) is the durable copy."""

    def __init__(
        self,
        table: MutableMapping[bytes, bytes],
        *,
        max_cached: int = 100_000,
        ttl_s: float = 86400.0,
    ) -> None:
        self._table = table
        self._cache: dict[str, SessionState] = {}
        self._dirty: set[str] = set()
        self._max_cached = max_cached
        self._ttl = ttl_s
        self._buckets: dict[int, set[str]] = {}
        self._bucket_of: dict[str, int] = {}
        self._peak = 0  # most sessions scheduled since the last compaction

    def load(self, session_id: str) -> SessionState | None:
        """A copy of the session's latest acknowledged state, or None for a new session."""
        state = self._cache.get(session_id)
        if state is None:
            raw = self._table.get(session_id.encode())
            if raw is None:
                return None
            state = SessionState.from_bytes(raw)
            self._cache[session_id] = state
        return state.copy()

    def put(self, states: dict[str, SessionState]) -> None:
        """Adopt states whose outputs are acknowledged; they reach the table at `flush`."""
        self._cache.update(states)
        self._dirty.update(states)
        for session_id, state in states.items():
            self._schedule(session_id, state)

    def _schedule(self, session_id: str, state: SessionState) -> None:
        expires = state.last_seen + self._ttl
        if state.kill_active and state.kill_expires is not None:
            expires = max(expires, state.kill_expires)
        bucket = math.ceil(expires / _BUCKET_S)
        old = self._bucket_of.get(session_id)
        if old == bucket:
            return
        if old is not None:
            members = self._buckets.get(old)
            if members is not None:
                members.discard(session_id)
                if not members:
                    del self._buckets[old]
        self._bucket_of[session_id] = bucket
        self._buckets.setdefault(bucket, set()).add(session_id)
        if len(self._bucket_of) > self._peak:
            self._peak = len(self._bucket_of)

    def sweep(self, now: float) -> list[str]:
        """Delete states idle past the TTL; returns the ids whose (ended) kill went with them.

        The caller tombstones those ids on `session.commands`, so compaction drops
        the expired kills too.
        """
        due = [b for b in self._buckets if b * _BUCKET_S <= now]
        ended_kills: list[str] = []
        for bucket in sorted(due):
            for session_id in self._buckets.pop(bucket):
                del self._bucket_of[session_id]
                key = session_id.encode()
                state = self._cache.pop(session_id, None)
                self._dirty.discard(session_id)
                if state is None:
                    raw = self._table.get(key)
                    state = None if raw is None else SessionState.from_bytes(raw)
                # a permanent kill stays on the topic; an ended one can be compacted away
                if state is not None and state.kill_active and state.kill_expires is not None:
                    ended_kills.append(session_id)
                self._table.pop(key, None)
        if due:  # give the tables of a flood back (see schemas.compact)
            peak = self._peak
            self._bucket_of, self._peak = compacted(self._bucket_of, peak)
            self._cache, _ = compacted(self._cache, peak)
            self._dirty, _ = compacted(self._dirty, peak)
        return ended_kills

    def flush(self) -> int:
        """Write changed states to the table; returns how many were written."""
        dirty, self._dirty = self._dirty, set()
        for session_id in dirty:
            self._table[session_id.encode()] = self._cache[session_id].to_bytes()
        if len(self._cache) > self._max_cached:
            self._cache.clear()  # everything is in the table now; reload on demand
        return len(dirty)

    def reset(self) -> None:
        """Flush, then forget the cache and the expiry index (after a rebalance the
        table is the truth, and some of its keys may belong to another worker now)."""
        self.flush()
        self._cache.clear()
        self._buckets.clear()
        self._bucket_of.clear()

    @property
    def pending(self) -> int:
        """States put but not flushed yet."""
        return len(self._dirty)

    @property
    def tracked(self) -> int:
        """Sessions with a scheduled expiry (put by this worker since its assignment)."""
        return len(self._bucket_of)
