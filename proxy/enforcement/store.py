"""Session store: per-session bookkeeping shared by the proxy and the control API.

`SessionStore` is the Protocol; `MemorySessionStore` (one process) lives here,
`RedisSessionStore` (several proxies share sessions, counters and kill state) in
`redis_store.py`. Every write is idempotent where the input can repeat:
violations count once per `event_id`, a mirrored command only replaces an
older one. Request/response counters are at-least-once from the caller's view
(the proxy observes each request once).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from schemas.compact import compacted
from schemas.events import (
    BlockMode,
    CommandKind,
    LLMRequest,
    LLMResponse,
    SessionCommand,
    Violation,
)

__all__ = [
    "COUNTER_FIELDS",
    "LABEL_FIELDS",
    "CommandCallback",
    "KillState",
    "MemorySessionStore",
    "Observation",
    "SessionInfo",
    "SessionStore",
    "command_order",
    "response_total_tokens",
    "session_info",
]

Observation = LLMRequest | LLMResponse
CommandCallback = Callable[[SessionCommand], None]


def command_order(cmd: SessionCommand) -> str:
    """A string that sorts like `(time, event_id)`: newer commands sort higher."""
    micros = int(cmd.time.timestamp() * 1_000_000)
    return f"{micros:020d}:{cmd.event_id}"


class KillState(BaseModel):
    """The command currently deciding a session's fate, as the control API shows it."""

    model_config = ConfigDict(frozen=True)

    command: CommandKind
    block_mode: BlockMode | None = None
    expires_at: datetime | None = None
    reason: str = ""
    rule_id: str | None = None
    issuer: str
    decision_id: str
    time: datetime

    @classmethod
    def of(cls, cmd: SessionCommand) -> KillState:
        return cls(
            command=cmd.command,
            block_mode=cmd.block_mode,
            expires_at=cmd.expires_at,
            reason=cmd.reason,
            rule_id=cmd.rule_id,
            issuer=cmd.issuer,
            decision_id=cmd.decision_id,
            time=cmd.time,
        )


class SessionInfo(BaseModel):
    """What is known about one session (no prompt bodies, no raw keys)."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    requests: int = 0
    responses: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    backend: str | None = None
    model: str | None = None
    client_ip: str | None = None
    api_key_fingerprint: str | None = None
    flagged: bool = False
    violations: int = 0
    last_rule_id: str | None = None
    last_severity: str | None = None
    killed: bool = False
    kill: KillState | None = None


class SessionStore(Protocol):
    """Where session records and mirrored kill state live."""

    async def start(self, on_command: CommandCallback | None = None) -> None:
        """Connect; `on_command` receives commands other replicas mirror (may be never)."""

    async def stop(self) -> None:
        """Disconnect; idempotent."""

    async def record(self, events: Sequence[Observation]) -> None:
        """Count requests/responses, tokens, errors; update last seen, backend, model."""

    async def flag(self, violation: Violation) -> bool:
        """Mark the session flagged; True if this violation was new (counted once)."""

    async def save_command(self, cmd: SessionCommand) -> bool:
        """Mirror a command if newer than the one held (and tell other replicas)."""

    async def commands(self) -> list[SessionCommand]:
        """Every mirrored command (the latest per session)."""

    async def get(self, session_id: str) -> SessionInfo | None:
        """One session, or None."""

    async def query(
        self,
        *,
        flagged: bool | None = None,
        backend: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[SessionInfo]:
        """Sessions, most recently seen first, filtered."""

    async def count(self, since: datetime | None = None) -> int:
        """How many sessions are held (seen at or after `since`, when given)."""


#: The `SessionInfo` fields every store keeps as integer counters and as labels.
COUNTER_FIELDS = (
    "requests",
    "responses",
    "errors",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "violations",
)
LABEL_FIELDS = (
    "backend",
    "model",
    "client_ip",
    "api_key_fingerprint",
    "last_rule_id",
    "last_severity",
)


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def session_info(
    session_id: str,
    *,
    first_seen: float | None,
    last_seen: float | None,
    flagged: bool,
    counters: Mapping[str, int],
    labels: Mapping[str, str | None],
    kill: SessionCommand | None,
) -> SessionInfo:
    """The `SessionInfo` of one stored record (times as epoch seconds), for every store."""
    return SessionInfo.model_validate(
        {
            **counters,
            **labels,
            "session_id": session_id,
            "first_seen": _ts(first_seen),
            "last_seen": _ts(last_seen),
            "flagged": flagged,
            "kill": KillState.of(kill) if kill is not None else None,
        }
    )


def response_total_tokens(e: LLMResponse) -> int:
    """The response's total tokens, or input plus output when the backend gave no total."""
    return e.total_tokens or (e.input_tokens or 0) + (e.output_tokens or 0)


@dataclass(slots=True)
class _Session:
    session_id: str
    first_seen: float | None = None
    last_seen: float | None = None
    requests: int = 0
    responses: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    backend: str | None = None
    model: str | None = None
    client_ip: str | None = None
    api_key_fingerprint: str | None = None
    flagged: bool = False
    violations: int = 0
    last_rule_id: str | None = None
    last_severity: str | None = None
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
            counters={f: getattr(self, f) for f in COUNTER_FIELDS},
            labels={f: getattr(self, f) for f in LABEL_FIELDS},
            kill=kill,
        )


def apply_observation(s: _Session, e: Observation) -> None:
    """Fold one request or response into a session record (shared with tests)."""
    s.seen(e.time.timestamp())
    s.backend = e.backend
    if e.model:
        s.model = e.model
    if isinstance(e, LLMRequest):
        s.requests += 1
        if e.client_ip:
            s.client_ip = e.client_ip
        if e.api_key_fingerprint:
            s.api_key_fingerprint = e.api_key_fingerprint
        return
    s.responses += 1
    if e.status_code >= 400 or e.outcome != "ok":
        s.errors += 1
    s.input_tokens += e.input_tokens or 0
    s.output_tokens += e.output_tokens or 0
    s.total_tokens += response_total_tokens(e)


class MemorySessionStore:
    """One process's sessions, bounded twice: idle ones are evicted after `ttl_s`
    (oldest first, from the front of the recency order: no scan), and the least
    recently seen beyond `max_sessions`. Kill state here is display only (the
    registry enforces): a resume or an expired kill drops the session's command.
    """

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
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._commands: dict[str, SessionCommand] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._peak = 0  # most sessions held since the last compaction

    async def start(self, on_command: CommandCallback | None = None) -> None:
        # one process: nobody else mirrors commands to us; just expire idle sessions
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="session-sweeper")

    async def stop(self) -> None:
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

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

    def _session(self, sid: str) -> _Session:
        s = self._sessions.get(sid)
        if s is None:
            s = self._sessions[sid] = _Session(sid)
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
        s.violations += 1
        s.last_rule_id = violation.rule_id
        s.last_severity = violation.severity
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
            if backend is not None and s.backend != backend:
                continue
            out.append(s.info(self._commands.get(s.session_id)))
        return out

    async def count(self, since: datetime | None = None) -> int:
        if since is None:
            return len(self._sessions)
        floor = since.timestamp()
        return sum(1 for s in self._sessions.values() if (s.last_seen or 0.0) >= floor)
