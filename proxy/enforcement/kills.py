"""The in-memory kill registry: which sessions are blocked right now.

Pure: no I/O and no clock (`now` is passed in). Commands can arrive twice and
out of order (Kafka replay, Redis pub/sub, a local control-API call), so the
registry keeps, per session, only the newest command by `(time, event_id)` and
ignores a decision it has already seen: applying the same stream of commands
in any interleaving ends in the same state.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime

from schemas.events import SessionCommand

__all__ = ["KillRegistry"]

_DECISIONS_KEPT = 32


def _order(cmd: SessionCommand) -> tuple[datetime, str]:
    return (cmd.time, cmd.event_id)


class KillRegistry:
    """Latest command per session; `check` is one dict lookup."""

    def __init__(self) -> None:
        self._latest: dict[str, SessionCommand] = {}
        self._kills: dict[str, SessionCommand] = {}
        self._decisions: dict[str, deque[str]] = {}

    def apply(self, cmd: SessionCommand) -> bool:
        """Apply a kill or resume; return whether the session's state changed.

        An older command than the one held, or a repeated decision, is ignored.
        """
        sid = cmd.session_id
        seen = self._decisions.get(sid)
        if seen is not None and cmd.decision_id in seen:
            return False
        current = self._latest.get(sid)
        if current is not None and _order(cmd) <= _order(current):
            return False
        if seen is None:
            seen = self._decisions[sid] = deque(maxlen=_DECISIONS_KEPT)
        seen.append(cmd.decision_id)
        self._latest[sid] = cmd
        if cmd.command == "kill":
            self._kills[sid] = cmd
        else:
            self._kills.pop(sid, None)
        return True

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
        """The newest command seen for a session (kill or resume), active or not."""
        return self._latest.get(session_id)

    def active(self, now: datetime) -> list[SessionCommand]:
        """Every kill in force at `now`."""
        return [cmd for cmd in self._kills.values() if cmd.active_at(now)]

    def prune(self, now: datetime) -> int:
        """Forget kills that expired before `now`; return how many."""
        expired = [sid for sid, cmd in self._kills.items() if not cmd.active_at(now)]
        for sid in expired:
            del self._kills[sid]
        return len(expired)

    def __len__(self) -> int:
        return len(self._latest)
