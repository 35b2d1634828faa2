"""Session store: per-session bookkeeping shared by the proxy and the control API.

`SessionStore` is the Protocol and `SessionInfo` the one session record every
store returns; `MemorySessionStore` (one process) lives in `memory_store.py`,
`RedisSessionStore` (several proxies share sessions, counters and kill state) in
`redis_store.py`. Every write is idempotent where the input can repeat:
violations count once per `event_id`, a mirrored command only replaces an
older one. Request/response counters are at-least-once from the caller's view
(the proxy observes each request once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict

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
