"""Turn findings into violations and kill decisions: pure, deterministic, replay-safe.

Given the same event, findings and prior state, `judge` returns the same output
with the same ids: violation ids derive from (subject event, rule), a decision id
from (session, rule or threshold, triggering event). The session state remembers
issued decisions and the kill in force, so at most one `SessionCommand` comes out
per decision and a replay after a crash never floods the command topic.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from schemas.deadletter import stable_id
from schemas.events import (
    BlockMode,
    LLMRequest,
    LLMResponse,
    SessionCommand,
    StreamWindow,
    Violation,
)
from streams.policy.types import ACTION_RANK, SEVERITY_RANK, Finding, SessionContext
from streams.state import SessionState

__all__ = [
    "THRESHOLD_RULE_ID",
    "Engine",
    "Judgement",
    "SessionRules",
    "decision_id",
    "judge",
    "stable_event_id",
]

#: Rule id of the session-level violation raised when the risk score crosses the threshold.
THRESHOLD_RULE_ID = "session.risk_threshold"

ProxyEvent = LLMRequest | LLMResponse | StreamWindow


class SessionRules(Protocol):
    """The session section of a policy: when and how long to kill."""

    @property
    def risk_kill_threshold(self) -> float: ...
    @property
    def risk_half_life_s(self) -> float: ...
    @property
    def kill_block_mode(self) -> BlockMode: ...
    @property
    def kill_duration_s(self) -> float: ...


class Engine(Protocol):
    """What the worker needs from `streams.policy.PolicyEngine`."""

    @property
    def mode(self) -> Literal["enforce", "audit"]: ...
    @property
    def version(self) -> str: ...
    @property
    def session(self) -> SessionRules: ...
    def evaluate(
        self, event: ProxyEvent, ctx: SessionContext, quiet: list[int] | None = None
    ) -> list[Finding]: ...
    def risk_points(self, finding: Finding) -> float: ...


@dataclass(frozen=True, slots=True)
class Judgement:
    """The outputs of one event: violations to publish and at most one command."""

    violations: list[Violation] = field(default_factory=list)
    command: SessionCommand | None = None


def stable_event_id(time_ms: int, name: str) -> str:
    """A UUIDv7 whose time is `time_ms` and whose other bits hash `name`: sortable and
    deterministic, so a replayed output carries the id of the original and sinks dedupe it."""
    return stable_id(time_ms, name)


def decision_id(session_id: str, trigger: str, event_id: str) -> str:
    """Stable id of the decision to kill `session_id` because of `trigger` at `event_id`."""
    digest = hashlib.sha256(f"{session_id}\x1f{trigger}\x1f{event_id}".encode()).hexdigest()
    return f"dec_{digest[:32]}"


def judge(
    event: ProxyEvent,
    findings: list[Finding],
    state: SessionState,
    engine: Engine,
    *,
    now: float,
    source: str,
) -> Judgement:
    """Score the findings into `state` (mutated) and return what to publish.

    In `audit` mode violations say `enforced=false` and no command is emitted, but
    the decision is still remembered so the audit trail shows it exactly once.
    """
    if not findings:
        return Judgement()
    rules = engine.session
    enforced = engine.mode == "enforce"
    time_ms = int(now * 1000)
    when = datetime.fromtimestamp(now, UTC)
    violations: list[Violation] = []
    seen_rules: dict[str, int] = {}
    risk = state.risk_score
    for f in findings:
        ordinal = seen_rules.get(f.rule_id, 0)
        seen_rules[f.rule_id] = ordinal + 1
        risk = state.add_risk(engine.risk_points(f), now, rules.risk_half_life_s)
        state.violations_total += 1
        vid = stable_event_id(time_ms, f"{event.event_id}|{f.rule_id}|{ordinal}")
        violations.append(_violation(vid, event, f, risk, engine, when, source))

    trigger = _kill_trigger(findings, risk, rules.risk_kill_threshold)
    if trigger is None or state.kill_in_force(now):
        return Judgement(violations)
    dec = decision_id(event.session_id, trigger.rule_id, event.event_id)
    if not state.remember(dec):
        return Judgement(violations)
    expires = None
    if rules.kill_block_mode != "permanent":
        expires = when + timedelta(seconds=rules.kill_duration_s)
    state.kill_active = True
    state.kill_expires = None if expires is None else expires.timestamp()
    if trigger.rule_id == THRESHOLD_RULE_ID:
        vid = stable_event_id(int(when.timestamp() * 1000), f"{dec}|violation")
        violations.append(_violation(vid, event, trigger, risk, engine, when, source))
    if not enforced:
        return Judgement(violations)
    command = SessionCommand(
        event_id=stable_event_id(time_ms, dec),
        time=when,
        source=source,
        session_id=event.session_id,
        request_id=event.request_id,
        trace_id=event.trace_id,
        span_id=event.span_id,
        command="kill",
        block_mode=rules.kill_block_mode,
        expires_at=expires,
        reason=trigger.description,
        rule_id=trigger.rule_id,
        issuer=source,
        decision_id=dec,
        key_id=event.key_id,
        team=event.team,
        user=event.user,
    )
    return Judgement(violations, command)


def _kill_trigger(findings: list[Finding], risk: float, threshold: float) -> Finding | None:
    """The finding that kills the session: a `kill` rule first, else the risk threshold."""
    for f in findings:
        if f.action == "kill":
            return f
    if threshold <= 0 or risk < threshold:
        return None
    worst = max(findings, key=lambda f: (SEVERITY_RANK[f.severity], ACTION_RANK[f.action]))
    return Finding(
        rule_id=THRESHOLD_RULE_ID,
        description=f"session risk {risk:.1f} crossed {threshold:g} (last: {worst.rule_id})",
        owasp=worst.owasp,
        severity="critical",
        action="kill",
        target="session",
    )


def _violation(
    event_id: str,
    event: ProxyEvent,
    f: Finding,
    risk: float,
    engine: Engine,
    when: datetime,
    source: str,
) -> Violation:
    """The violation `f` raises on `event` (a rule's finding or the threshold's)."""
    return Violation(
        event_id=event_id,
        time=when,
        source=source,
        session_id=event.session_id,
        request_id=event.request_id,
        trace_id=event.trace_id,
        span_id=event.span_id,
        rule_id=f.rule_id,
        description=f.description,
        owasp=f.owasp,
        severity=f.severity,
        action=f.action,
        mode=engine.mode,
        enforced=engine.mode == "enforce",
        target=f.target,
        role=f.role,
        subject_event_id=event.event_id,
        subject_event_type=event.type,
        evidence=list(f.evidence),
        score=f.score,
        risk_score=round(risk, 3),
        policy_version=engine.version,
        key_id=event.key_id,
        team=event.team,
        user=event.user,
    )
