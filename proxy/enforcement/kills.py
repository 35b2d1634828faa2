"""The in-memory kill registry: which sessions are blocked right now.

Pure: no I/O and no clock (`now` is passed in). Commands can arrive twice and
out of order (Kafka replay, Redis pub/sub, a local control-API call), so the
registry keeps, per session, only the newest command by `(time, event_id)` and
ignores a decision it has already seen: applying the same stream of commands
in any interleaving ends in the same state.

Bounded: only kills in force are held. A resume, an expired kill and a Kafka
tombstone leave a small marker (the order and decision ids of the last command,
so an older or repeated kill delivered late is still refused) in a FIFO of at
most `max_markers`, dropped once its command is `marker_ttl_s` old; expired kills
are found through a heap of expiry times, never a scan of every session; after
a flood the maps are compacted (`schemas.compact`).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from datetime import datetime, timedelta

from schemas.compact import compacted
from schemas.events import SessionCommand

__all__ = ["KillRegistry"]

_DECISIONS_KEPT = 32
_Order = tuple[datetime, str]


def _order(cmd: SessionCommand) -> _Order:
    return (cmd.time, cmd.event_id)


class KillRegistry:
    """Kills in force per session; `check` is one dict lookup."""

    def __init__(self, *, max_markers: int = 10_000, marker_ttl_s: float = 3600.0) -> None:
        self._kills: dict[str, SessionCommand] = {}
        self._decisions: dict[str, tuple[str, ...]] = {}
        # sessions no longer killed: last order and decision ids, oldest first
        self._markers: OrderedDict[str, tuple[_Order, tuple[str, ...]]] = OrderedDict()
        self._max_markers = max_markers
        self._marker_ttl = timedelta(seconds=marker_ttl_s)
        self._expiry: list[tuple[datetime, str, str]] = []  # (expires_at, sid, event_id)
        self._peak = 0  # most kills held at once since the last compaction

    def apply(self, cmd: SessionCommand) -> bool:
        """Apply a kill or resume; return whether the session's state changed.

        An older command than the one held, or a repeated decision, is ignored.
        """
        sid = cmd.session_id
        current = self._kills.get(sid)
        if current is not None:
            last, seen = _order(current), self._decisions.get(sid, ())
        else:
            last, seen = self._markers.get(sid, (None, ()))  # type: ignore[assignment]
        if cmd.decision_id in seen or (last is not None and _order(cmd) <= last):
            return False
        decisions = (*seen, cmd.decision_id)[-_DECISIONS_KEPT:]
        if cmd.command == "kill":
            self._markers.pop(sid, None)
            self._kills[sid] = cmd
            self._decisions[sid] = decisions
            if len(self._kills) > self._peak:
                self._peak = len(self._kills)
            if cmd.block_mode != "permanent" and cmd.expires_at is not None:
                heapq.heappush(self._expiry, (cmd.expires_at, sid, cmd.event_id))
        else:
            self._kills.pop(sid, None)
            self._decisions.pop(sid, None)
            self._mark(sid, _order(cmd), decisions)
        return True

    def _mark(self, sid: str, order: _Order, decisions: tuple[str, ...]) -> None:
        self._markers[sid] = (order, decisions)
        self._markers.move_to_end(sid)
        while len(self._markers) > self._max_markers:
            self._markers.popitem(last=False)

    def check(self, session_id: str, now: datetime) -> SessionCommand | None:
        """The kill blocking `session_id` at `now`, or None. O(1)."""
        if not self._kills:
            return None
        cmd = self._kills.get(session_id)
        if cmd is None or not cmd.active_at(now):
            return None
        return cmd

    def held(self, session_id: str) -> SessionCommand | None:
        """The kill held for a session, whether or not it has expired (no clock needed)."""
        return self._kills.get(session_id)

    def latest(self, session_id: str) -> SessionCommand | None:
        """The kill held for a session (None once resumed, expired and pruned)."""
        return self._kills.get(session_id)

    def known(self, session_id: str) -> bool:
        """Whether a command for the session is held or remembered by a marker."""
        return session_id in self._kills or session_id in self._markers

    def active(self, now: datetime) -> list[SessionCommand]:
        """Every kill in force at `now`."""
        return [cmd for cmd in self._kills.values() if cmd.active_at(now)]

    def forget(self, session_id: str, now: datetime) -> SessionCommand | None:
        """A tombstone for the session: drop what is held unless a kill is still in force.

        Returns the kill still in force (the caller re-publishes it: the tombstone
        removed it from the compacted topic), or None when the session was dropped.
        """
        cmd = self._kills.get(session_id)
        if cmd is not None and cmd.active_at(now):
            return cmd
        if cmd is not None:
            self._drop(session_id, cmd)
        return None

    def prune(self, now: datetime) -> int:
        """Forget kills that expired before `now` and old markers; return how many kills.

        Heap and FIFO order: only what is due is looked at, never every session.
        """
        pruned = 0
        while self._expiry and self._expiry[0][0] <= now:
            _, sid, event_id = heapq.heappop(self._expiry)
            cmd = self._kills.get(sid)
            if cmd is not None and cmd.event_id == event_id and not cmd.active_at(now):
                self._drop(sid, cmd)
                pruned += 1
        floor = now - self._marker_ttl
        while self._markers:
            sid, ((at, _), _) = next(iter(self._markers.items()))
            if at > floor:
                break
            del self._markers[sid]
        if pruned:
            peak = self._peak
            self._kills, self._peak = compacted(self._kills, peak)
            self._decisions, _ = compacted(self._decisions, peak)
            self._markers, _ = compacted(self._markers, peak)
        return pruned

    def _drop(self, sid: str, cmd: SessionCommand) -> None:
        del self._kills[sid]
        self._mark(sid, _order(cmd), self._decisions.pop(sid, ()))

    def __len__(self) -> int:
        """Sessions with a kill held (in force or not yet pruned)."""
        return len(self._kills)

    @property
    def markers(self) -> int:
        """Sessions remembered only by a marker (resumed, expired or tombstoned)."""
        return len(self._markers)
