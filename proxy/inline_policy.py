"""Inline policy: the streams policy engine judging a request before it is forwarded.

The engine is pure and shared with the streams worker (`streams.policy`); this
module holds it (`PolicyHolder`, atomic reload), builds the session context the
proxy can know without I/O (the session id, `now`, which parts are new), and
turns a `block` or `kill` decision into a `PolicyBlocked` error in `enforce`
mode. Audit mode never blocks.

What is judged: the request's parts as its dialect extracted them
(`proxy.dialects`), the same texts the captured event carries to the streams
worker, minus the parts this session already had judged on this replica
(`streams.policy.turns`): a long conversation is not re-scanned on every
request, while a rewritten history, a trailing assistant turn or a new tool
result is judged once. A request that is blocked leaves no memory, so sending
it again is blocked again. Parts every session repeats (an agent's system
prompt, its tool definitions) are judged once per replica while they stay
quiet: `streams.policy.turns.QuietParts` skips only parts that gave no signal
at all, which changes no decision.

A check runs in three steps so a large body can be judged off the event loop:
`prepare` (loop: memory lookup), `evaluate` (pure CPU, any thread), `conclude`
(loop: memory update, counters, the error). `check` runs all three.

The proxy publishes no violations itself: the streams worker judges the same
request event and publishes them, so nothing is counted twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from proxy.dialects import extract
from proxy.errors import PolicyBlocked
from proxy.settings import ProxySettings
from schemas.events import ChatMessage, LLMRequest
from streams.policy import (
    ACTION_RANK,
    SEVERITY_RANK,
    Finding,
    PolicyEngine,
    PolicyHolder,
    SessionContext,
    decide,
)
from streams.policy.turns import JudgedParts, QuietParts, SessionPartsMemory

__all__ = ["InlinePolicy", "InlineStats", "PendingCheck", "full_request"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class InlineStats:
    """Counters of this replica's inline checks."""

    checked: int = 0
    blocked: int = 0
    would_block: int = 0  # audit mode: a block or kill decision that was let through
    reloads: int = 0
    parts_judged: int = 0  # parts scanned
    parts_skipped: int = 0  # parts this session had judged already
    parts_quiet: int = 0  # parts skipped because any session had them judged without a signal


@dataclass(slots=True)
class PendingCheck:
    """One request between `prepare` and `conclude`."""

    event: LLMRequest
    engine: PolicyEngine
    memory: JudgedParts
    keys: Sequence[bytes]
    ctx: SessionContext
    quiet: list[int] = field(default_factory=list)  # judged parts that gave no signal


def full_request(
    req: LLMRequest, body: object, parts: list[ChatMessage] | None = None
) -> LLMRequest:
    """`req` itself, or a copy with every part when capture left text out.

    Capture may keep no text (`metadata_only`) or cut it at `capture_max_bytes`,
    which would hide the newest turn; the policy must see what goes upstream.
    `parts` are the dialect's parts of `body` when the caller has them.
    """
    if req.captured and not req.truncated:
        return req
    if parts is None:
        parts, _ = extract(req.provider, req.path, body)
    return req.model_copy(update={"messages": parts})


def _blocking(findings: list[Finding]) -> list[str]:
    """Ids of the findings that block, strongest action and severity first."""
    strong = [f for f in findings if ACTION_RANK[f.action] >= ACTION_RANK["block"]]
    strong.sort(key=lambda f: (-ACTION_RANK[f.action], -SEVERITY_RANK[f.severity], f.rule_id))
    return list(dict.fromkeys(f.rule_id for f in strong))


class InlinePolicy:
    """The live rule set of this proxy plus the check run before each forward."""

    def __init__(
        self,
        preset: str = "standard",
        files: Sequence[Path] = (),
        *,
        enabled: bool = True,
        engine: PolicyEngine | None = None,
        memory: SessionPartsMemory | None = None,
        quiet_parts: int = 16_384,
    ) -> None:
        """Load and validate the policy (raises `PolicyValidationError`)."""
        self.enabled = enabled
        self.holder = PolicyHolder(preset, files, engine=engine)
        self.memory = memory if memory is not None else SessionPartsMemory(10_000)
        self.quiet = QuietParts(quiet_parts)
        self.stats = InlineStats()

    @classmethod
    def from_settings(cls, settings: ProxySettings) -> InlinePolicy:
        """The inline policy the settings ask for (loaded even when off, for the control API)."""
        memory = SessionPartsMemory(settings.judged_max_sessions, settings.judged_parts_per_session)
        return cls(
            settings.policy_preset,
            settings.policy_files,
            enabled=settings.inline_policy,
            memory=memory,
            quiet_parts=settings.judged_quiet_parts,
        )

    @property
    def engine(self) -> PolicyEngine:
        """The live engine (swapped atomically by `reload`)."""
        return self.holder.engine

    def prepare(
        self,
        req: LLMRequest,
        body: object,
        now: datetime,
        parts: list[ChatMessage] | None = None,
        keys: Sequence[bytes] | None = None,
    ) -> PendingCheck | None:
        """Pick the parts to judge (event loop: reads the session's memory); None: nothing to do."""
        if not self.enabled:
            return None
        event = full_request(req, body, parts)
        if not event.messages:
            return None
        engine = self.holder.engine
        memory = self.memory.of(req.session_id, engine.version)
        fresh, keys = memory.new_parts(event.messages, keys)
        unknown = self.quiet.skip(fresh, keys, engine.version)
        self.stats.checked += 1
        self.stats.parts_judged += len(unknown)
        self.stats.parts_skipped += len(event.messages) - len(fresh)
        self.stats.parts_quiet += len(fresh) - len(unknown)
        ctx = SessionContext(session_id=req.session_id, now=now, new_parts=unknown)
        return PendingCheck(event, engine, memory, keys, ctx)

    def judged_elsewhere(
        self, req: LLMRequest, keys: Sequence[bytes], version: str, now: datetime
    ) -> PendingCheck | None:
        """A check whose findings came from elsewhere (`proxy.intake.BodyWorker`), to `conclude`.

        None when the live policy is no longer `version` (reloaded meanwhile).
        """
        engine = self.holder.engine
        if not self.enabled or engine.version != version:
            return None
        memory = self.memory.of(req.session_id, version)
        self.stats.checked += 1
        self.stats.parts_judged += len(keys)
        ctx = SessionContext(session_id=req.session_id, now=now)
        return PendingCheck(req, engine, memory, keys, ctx)

    def worker_policy(self) -> tuple[str, tuple[str, ...], str] | None:
        """What a worker process needs to load this very policy, or None when off."""
        if not self.enabled:
            return None
        holder = self.holder
        return holder.preset, tuple(str(f) for f in holder.files), holder.engine.version

    @staticmethod
    def evaluate(pending: PendingCheck) -> list[Finding]:
        """The findings (pure CPU: safe to run off the event loop)."""
        return pending.engine.evaluate(pending.event, pending.ctx, pending.quiet)

    def conclude(self, pending: PendingCheck, findings: list[Finding]) -> PolicyBlocked | None:
        """The error answering the request when the policy blocks it, else None (loop)."""
        engine = pending.engine
        self.quiet.remember(pending.keys, pending.quiet, engine.version)
        blocks = decide(findings) in ("block", "kill")
        if blocks and engine.mode == "enforce":
            rule_ids = _blocking(findings)
            self.stats.blocked += 1
            log.info(
                "request_blocked_inline",
                extra={
                    "session_id": pending.ctx.session_id,
                    "rules": rule_ids,
                    "policy": engine.version,
                },
            )
            return PolicyBlocked(
                f"request blocked by policy rule {', '.join(rule_ids)}",
                extra={
                    "rule_id": rule_ids[0],
                    "rule_ids": ",".join(rule_ids),
                    "policy_version": engine.version,
                },
            )
        if blocks:
            self.stats.would_block += 1
        pending.memory.remember(pending.keys)
        return None

    def check(
        self,
        req: LLMRequest,
        body: object,
        now: datetime,
        parts: list[ChatMessage] | None = None,
    ) -> PolicyBlocked | None:
        """`prepare`, `evaluate` and `conclude` in one call, on the caller's thread."""
        pending = self.prepare(req, body, now, parts)
        if pending is None:
            return None
        return self.conclude(pending, self.evaluate(pending))

    def reload(self) -> tuple[PolicyEngine, PolicyEngine]:
        """Re-read the preset and files; returns (old, new). On a bad file the old one stays.

        Raises:
            PolicyValidationError: the files are invalid; nothing was swapped.
        """
        old = self.holder.engine
        new = self.holder.reload()
        self.stats.reloads += 1
        log.info("policy_reloaded", extra={"old": old.version, "new": new.version})
        return old, new
