"""`MemorySessionStore`: one process's sessions, counters and mirrored commands.

Same guarantees as every `SessionStore` (`session_store.py`): a violation counts
once per `event_id`, a command replaces only an older one. Bounded twice: idle
sessions are evicted after `ttl_s` (oldest first, from the front of the recency
order: no scan), and the least recently seen beyond `max_sessions`. Kill state
here is display only (the registry enforces): a resume or an expired kill drops
the session's command. After a flood the maps are compacted (`schemas.compact`).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from proxy.enforcement.session_store import (
    COUNTER_FIELDS,
    LABEL_FIELDS,
    CommandCallback,
    Observation,
    SessionInfo,
    command_order,
    response_total_tokens,
    session_info,
)
from proxy.tasks import cancel_and_wait
from schemas.compact import compacted
from schemas.events import LLMRequest, SessionCommand, Violation

__all__ = ["MemorySessionStore"]


@dataclass(slots=True)
class _Entry:
    """One session as held in memory: `SessionInfo`'s stored values, as Redis keeps them."""

    session_id: str
    first_seen: float | None = None
    last_seen: float | None = None
    flagged: bool = False
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTER_FIELDS, 0))
    labels: dict[str, str | None] = field(default_factory=lambda: dict.fromkeys(LABEL_FIELDS))
    # created on the first violation: most sessions never have one (a deque is ~600 B)
    violation_ids: deque[str] | None = None
    touched: float = 0.0  # monotonic time of the last write, for idle eviction

    def seen(self, ts: float) -> None:
        if self.first_seen is None or ts < self.first_seen:
            self.first_seen = ts
        if self.last_seen is None or ts > self.last_seen:
            self.last_seen = ts

    def info(self, kill: SessionCommand | None) -> SessionInfo:
        return session_info(
            self.session_id,
            first_seen=self.first_seen,
            last_seen=self.last_seen,
            flagged=self.flagged,
            counters=self.counters,
            labels=self.labels,
            kill=kill,
        )


def apply_observation(s: _Entry, e: Observation) -> None:
    """Fold one request or response into a session entry."""
    s.seen(e.time.timestamp())
    counters, labels = s.counters, s.labels
    labels["backend"] = e.backend
    if e.model:
        labels["model"] = e.model
    if isinstance(e, LLMRequest):
        counters["requests"] += 1
        if e.client_ip:
            labels["client_ip"] = e.client_ip
        if e.api_key_fingerprint:
            labels["api_key_fingerprint"] = e.api_key_fingerprint
        return
    counters["responses"] += 1
    if e.status_code >= 400 or e.outcome != "ok":
        counters["errors"] += 1
    counters["input_tokens"] += e.input_tokens or 0
    counters["output_tokens"] += e.output_tokens or 0
    counters["total_tokens"] += response_total_tokens(e)


class MemorySessionStore:
    """One process's sessions: idle ones expire after `ttl_s`, at most `max_sessions`."""

    def __init__(
        self,
        *,
        max_sessions: int = 100_000,
        ttl_s: float = 7 * 86400.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_sessions
        self._ttl = ttl_s
        self._clock = clock
        self._sessions: OrderedDict[str, _Entry] = OrderedDict()
        self._commands: dict[str, SessionCommand] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._peak = 0  # most sessions held since the last compaction

    async def start(self, on_command: CommandCallback | None = None) -> None:
        # one process: nobody else mirrors commands to us; just expire idle sessions
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="session-sweeper")

    async def stop(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        await cancel_and_wait(sweeper)

    async def _sweep_forever(self) -> None:
        interval = min(max(self._ttl / 4, 0.05), 30.0)
        while True:
            await asyncio.sleep(interval)
            self.expire()

    def expire(self, now: datetime | None = None) -> int:
        """Evict sessions idle longer than the TTL and kills no longer in force."""
        floor = self._clock() - self._ttl
        evicted = 0
        while self._sessions:
            sid, oldest = next(iter(self._sessions.items()))
            if oldest.touched > floor:
                break
            del self._sessions[sid]
            evicted += 1
        at = now or datetime.now(UTC)
        stale = [sid for sid, c in self._commands.items() if not c.active_at(at)]
        for sid in stale:
            if sid not in self._sessions or self._commands[sid].command != "kill":
                del self._commands[sid]
        if evicted:  # give the tables of a flood back (see schemas.compact)
            self._sessions, self._peak = compacted(self._sessions, self._peak)
            self._commands, _ = compacted(self._commands, self._peak)
        return evicted

    def _session(self, sid: str) -> _Entry:
        s = self._sessions.get(sid)
        if s is None:
            s = self._sessions[sid] = _Entry(sid)
            if len(self._sessions) > self._max:
                self._sessions.popitem(last=False)
            elif len(self._sessions) > self._peak:
                self._peak = len(self._sessions)
        else:
            self._sessions.move_to_end(sid)
        s.touched = self._clock()
        return s

    async def record(self, events: Sequence[Observation]) -> None:
        for e in events:
            apply_observation(self._session(e.session_id), e)

    async def flag(self, violation: Violation) -> bool:
        s = self._session(violation.session_id)
        if s.violation_ids is None:
            s.violation_ids = deque(maxlen=256)
        if violation.event_id in s.violation_ids:
            return False
        s.violation_ids.append(violation.event_id)
        s.seen(violation.time.timestamp())
        s.flagged = True
        s.counters["violations"] += 1
        s.labels["last_rule_id"] = violation.rule_id
        s.labels["last_severity"] = violation.severity
        return True

    async def save_command(self, cmd: SessionCommand) -> bool:
        current = self._commands.get(cmd.session_id)
        if current is not None and command_order(cmd) <= command_order(current):
            return False
        if cmd.command == "kill" or cmd.session_id in self._sessions:
            self._commands[cmd.session_id] = cmd  # a resume is kept while the session is
        else:
            self._commands.pop(cmd.session_id, None)
        return True

    async def commands(self) -> list[SessionCommand]:
        return list(self._commands.values())

    async def get(self, session_id: str) -> SessionInfo | None:
        s = self._sessions.get(session_id)
        return None if s is None else s.info(self._commands.get(session_id))

    async def query(
        self,
        *,
        flagged: bool | None = None,
        backend: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[SessionInfo]:
        floor = since.timestamp() if since is not None else None
        out: list[SessionInfo] = []
        for s in sorted(self._sessions.values(), key=lambda s: s.last_seen or 0.0, reverse=True):
            if len(out) >= limit or (floor is not None and (s.last_seen or 0.0) < floor):
                break
            if flagged is not None and s.flagged != flagged:
                continue
            if backend is not None and s.labels["backend"] != backend:
                continue
            out.append(s.info(self._commands.get(s.session_id)))
        return out

    async def count(self, since: datetime | None = None) -> int:
        if since is None:
            return len(self._sessions)
        floor = since.timestamp()
        return sum(1 for s in self._sessions.values() if (s.last_seen or 0.0) >= floor)
