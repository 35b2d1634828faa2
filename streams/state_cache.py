"""Session states in front of the changelog-backed faust table (write-behind).

Guarantees:
* `load` hands out a private copy, so a batch that fails half-way leaves nothing behind;
* `put` takes states whose outputs the broker has already acknowledged;
* `flush` writes every state changed since the last flush into the table (one
  changelog record per session) and must run before each offset commit: then a
  committed offset never outruns its state, and whatever was put but not flushed
  when the worker dies is rebuilt from the uncommitted events it replays.

Compared with a table write per session per batch, this is one per session per
commit interval, and states stay decoded between batches.
"""

from __future__ import annotations

from collections.abc import MutableMapping

from streams.state import SessionState

__all__ = ["SessionStateCache"]


class SessionStateCache:
    """Decoded session states, cached; the table (bytes) is the durable copy."""

    def __init__(self, table: MutableMapping[bytes, bytes], *, max_cached: int = 100_000) -> None:
        self._table = table
        self._cache: dict[str, SessionState] = {}
        self._dirty: set[str] = set()
        self._max_cached = max_cached

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

    def flush(self) -> int:
        """Write changed states to the table; returns how many were written."""
        dirty, self._dirty = self._dirty, set()
        for session_id in dirty:
            self._table[session_id.encode()] = self._cache[session_id].to_bytes()
        if len(self._cache) > self._max_cached:
            self._cache.clear()  # everything is in the table now; reload on demand
        return len(dirty)

    def reset(self) -> None:
        """Flush, then forget the cache (after a rebalance the table is the truth)."""
        self.flush()
        self._cache.clear()

    @property
    def pending(self) -> int:
        """States put but not flushed yet."""
        return len(self._dirty)
