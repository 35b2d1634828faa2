"""Event models: the single source of truth for every topic and Parquet table.

Every event shares one envelope (`EventEnvelope`) and adds a typed payload as
flat fields, so one event is one Parquet row. Types are versioned
(`llm.request.v1`): an additive, optional field stays in v1; a breaking change
adds a v2 model beside the v1 one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.ids import uuid7

__all__ = [
    "Action",
    "BlockMode",
    "ChatMessage",
    "CommandKind",
    "DeadLetter",
    "EntityCount",
    "Event",
    "EventEnvelope",
    "Evidence",
    "KillScope",
    "LLMRequest",
    "LLMResponse",
    "Outcome",
    "PartKind",
    "Provider",
    "SessionCommand",
    "Severity",
    "StreamWindow",
    "Target",
    "ToolCall",
    "Violation",
    "scope_key",
    "utcnow",
]

Provider = Literal["openai", "anthropic", "ollama", "passthrough"]
#: What one extracted text of a request is (see `proxy.dialects`).
PartKind = Literal["system", "message", "tool_definition", "tool_result", "tool_call", "body"]
Severity = Literal["info", "warning", "high", "critical"]
Action = Literal["flag", "block", "kill"]
Target = Literal["request", "response", "stream_window", "tool_call", "session"]
BlockMode = Literal["duration", "until", "permanent"]
CommandKind = Literal["kill", "resume"]
KillScope = Literal["session", "key", "user", "team"]
Outcome = Literal[
    "ok",
    "upstream_error",
    "timeout",
    "unreachable",
    "client_disconnect",
    "killed",
    "blocked",
    "rejected",
]


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChatMessage(_Frozen):
    """One text a request carries (a message, a tool result, a tool definition, ...).

    `role` says who wrote it (system, user, assistant, tool), `kind` what it is;
    `kind` is None on events from proxies older than the dialect extraction.
    """

    role: str
    content: str = ""
    name: str | None = None
    tool_call_id: str | None = None
    kind: PartKind | None = None


class ToolCall(_Frozen):
    """A tool (function) call requested by the model."""

    id: str | None = None
    name: str
    arguments: str = ""


class EntityCount(_Frozen):
    """How many values of one entity type the PII transform replaced in a request."""

    type: str
    count: int


class Evidence(_Frozen):
    """Where a rule matched; the excerpt is masked, never the raw secret."""

    field: str
    start: int
    end: int
    excerpt: str


class EventEnvelope(_Frozen):
    """Fields every event carries."""

    event_id: str = Field(default_factory=uuid7, description="UUIDv7, sortable by time")
    type: str
    time: datetime = Field(default_factory=utcnow, description="event time, UTC")
    source: str = Field(description="the instance that produced the event")
    schema_version: int = 1
    session_id: str
    request_id: str | None = None
    key_id: str | None = Field(default=None, description="modeltrail client key id, never the key")
    team: str | None = Field(default=None, description="team of the client key")
    user: str | None = Field(default=None, description="user of the client key")
    trace_id: str | None = Field(
        default=None, description="W3C trace id (32 hex digits) of the request's trace"
    )
    span_id: str | None = Field(
        default=None, description="the proxy's request span (16 hex digits): link target"
    )


class LLMRequest(EventEnvelope):
    """A client request as the proxy received it (bodies only under the capture policy)."""

    type: Literal["llm.request.v1"] = "llm.request.v1"
    backend: str
    provider: Provider
    method: str = "POST"
    path: str
    model: str | None = None
    stream: bool = False
    client_ip: str | None = None
    user_agent: str | None = None
    api_key_fingerprint: str | None = None
    messages: list[ChatMessage] = Field(default_factory=list)
    tools: list[str] = Field(default_factory=list)
    max_tokens: int | None = None
    temperature: float | None = None
    body_bytes: int = 0
    captured: bool = True
    truncated: bool = False
    # Entity types and counts the PII transform replaced before forwarding (never values).
    pii_entities: list[EntityCount] = Field(default_factory=list)


class LLMResponse(EventEnvelope):
    """The outcome of one request: a backend answer, an error, a timeout or a cut stream."""

    type: Literal["llm.response.v1"] = "llm.response.v1"
    backend: str
    provider: Provider
    path: str
    model: str | None = None
    stream: bool = False
    status_code: int
    outcome: Outcome = "ok"
    ttfb_ms: float | None = None
    latency_ms: float
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cached_input_tokens: int | None = None
    cost_usd: float | None = Field(
        default=None, description="from usage and the price table; null when the model is unpriced"
    )
    text: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    finish_reason: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    body_bytes: int = 0
    captured: bool = True
    truncated: bool = False


class StreamWindow(EventEnvelope):
    """A bounded slice of a stream's assembled text, emitted while the stream runs."""

    type: Literal["llm.stream_window.v1"] = "llm.stream_window.v1"
    backend: str
    provider: Provider
    model: str | None = None
    window_index: int
    offset_chars: int = Field(description="position of `text` in the assembled output")
    text: str
    tool_calls: list[ToolCall] = Field(default_factory=list)


class Violation(EventEnvelope):
    """A policy finding about one event or one session."""

    type: Literal["audit.violation.v1"] = "audit.violation.v1"
    rule_id: str
    description: str = ""
    owasp: str = Field(description="OWASP LLM Top 10 (2025) id, e.g. LLM01")
    severity: Severity
    action: Action
    mode: Literal["enforce", "audit"] = "enforce"
    enforced: bool = Field(description="false in audit mode: the action would have happened")
    target: Target
    role: str | None = None
    subject_event_id: str | None = None
    subject_event_type: str | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    score: float | None = Field(
        default=None, description="the learned classifier's probability (classifier rules only)"
    )
    risk_score: float | None = None
    policy_version: str | None = None


class SessionCommand(EventEnvelope):
    """Kill or resume a session, key, user or team on every proxy replica.

    Keyed by `session_id` on a compacted topic. For a scope other than `session`,
    `session_id` is `scope_key(scope, subject)` (e.g. `key:mk_...`), so the latest
    command per subject survives compaction like the latest per session.
    """

    type: Literal["session.command.v1"] = "session.command.v1"
    scope: KillScope = "session"
    subject: str | None = Field(default=None, description="key id, user or team for those scopes")
    command: CommandKind
    block_mode: BlockMode | None = None
    expires_at: datetime | None = None
    reason: str = ""
    rule_id: str | None = None
    issuer: str = Field(description="who decided: a streams worker, an operator key id, ...")
    decision_id: str = Field(description="stable id of the decision; duplicates share it")
    signature: str | None = Field(
        default=None,
        description="HMAC-SHA256 over every other field, `v1:<key id>:<hex>` "
        "(schemas.signing); replicas ignore commands without a valid one",
    )

    def active_at(self, now: datetime) -> bool:
        """Whether this command, if a kill, still blocks the session at `now`."""
        if self.command != "kill":
            return False
        if self.block_mode == "permanent" or self.expires_at is None:
            return True
        return now < self.expires_at


class DeadLetter(EventEnvelope):
    """A message some consumer could not decode or process, kept with the reason."""

    type: Literal["audit.deadletter.v1"] = "audit.deadletter.v1"
    topic: str
    partition: int
    offset: int
    key: str | None = None
    reason: str
    consumer: str
    value_excerpt: str = Field(default="", description="first bytes, escaped, at most 512")


def scope_key(scope: KillScope, subject: str) -> str:
    """The registry and topic key of a command: the session id itself, else `scope:subject`."""
    return subject if scope == "session" else f"{scope}:{subject}"


Event = Annotated[
    LLMRequest | LLMResponse | StreamWindow | Violation | SessionCommand | DeadLetter,
    Field(discriminator="type"),
]
