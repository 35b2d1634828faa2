"""Inline policy: the streams policy engine judging a request before it is forwarded.

The engine is pure and shared with the streams worker (`streams.policy`); this
module only holds it (`PolicyHolder`, atomic reload), builds the session context
the proxy can know without I/O (the session id and `now`), and turns a `block`
or `kill` decision into a `PolicyBlocked` error in `enforce` mode. Audit mode
never blocks. Only the new turn of a conversation is judged, as the engine does
downstream, so the cost stays proportional to what the client just sent.

The proxy publishes no violations itself: the streams worker judges the same
request event and publishes them, so nothing is counted twice.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from proxy.capture import build_request
from proxy.errors import PolicyBlocked
from proxy.settings import ProxySettings
from schemas.events import LLMRequest
from streams.policy import (
    ACTION_RANK,
    SEVERITY_RANK,
    Finding,
    PolicyEngine,
    PolicyHolder,
    SessionContext,
    decide,
)

__all__ = ["InlinePolicy", "InlineStats", "full_request"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class InlineStats:
    """Counters of this replica's inline checks."""

    checked: int = 0
    blocked: int = 0
    would_block: int = 0  # audit mode: a block or kill decision that was let through
    reloads: int = 0


def full_request(req: LLMRequest, body: object, *, rebuild: bool = False) -> LLMRequest:
    """`req` itself, or a copy with every message when capture left text out.

    Capture may keep no text (`metadata_only`) or cut it at `capture_max_bytes`,
    which would hide the newest turn; the policy must see what goes upstream.
    `rebuild`: the event's text differs from `body` (the PII transform rewrote it).
    """
    if req.captured and not req.truncated and not rebuild:
        return req
    return build_request(
        source=req.source,
        session_id=req.session_id,
        request_id=req.request_id or "",
        backend=req.backend,
        provider=req.provider,
        method=req.method,
        path=req.path,
        body=body,
        body_bytes=req.body_bytes,
        client_ip=req.client_ip,
        user_agent=req.user_agent,
        key_fp=req.api_key_fingerprint,
        policy="all",
        max_chars=sys.maxsize,
    )


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
    ) -> None:
        """Load and validate the policy (raises `PolicyValidationError`)."""
        self.enabled = enabled
        self.holder = PolicyHolder(preset, files, engine=engine)
        self.stats = InlineStats()

    @classmethod
    def from_settings(cls, settings: ProxySettings) -> InlinePolicy:
        """The inline policy the settings ask for (loaded even when off, for the control API)."""
        return cls(settings.policy_preset, settings.policy_files, enabled=settings.inline_policy)

    @property
    def engine(self) -> PolicyEngine:
        """The live engine (swapped atomically by `reload`)."""
        return self.holder.engine

    def check(
        self, req: LLMRequest, body: object, now: datetime, *, rebuild: bool = False
    ) -> PolicyBlocked | None:
        """The error answering `req` when the policy blocks it, else None. Pure CPU, no I/O.

        `rebuild`: judge `body` rather than the event's text (which the PII transform rewrote).
        """
        if not self.enabled or not isinstance(body, dict):
            return None
        engine = self.holder.engine
        event = full_request(req, body, rebuild=rebuild)
        if not event.messages:
            return None
        self.stats.checked += 1
        findings = engine.evaluate(event, SessionContext(session_id=req.session_id, now=now))
        if decide(findings) not in ("block", "kill"):
            return None
        rule_ids = _blocking(findings)
        if engine.mode != "enforce":
            self.stats.would_block += 1
            return None
        self.stats.blocked += 1
        log.info(
            "request_blocked_inline",
            extra={"session_id": req.session_id, "rules": rule_ids, "policy": engine.version},
        )
        return PolicyBlocked(
            f"request blocked by policy rule {', '.join(rule_ids)}",
            extra={
                "rule_id": rule_ids[0],
                "rule_ids": ",".join(rule_ids),
                "policy_version": engine.version,
            },
        )

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
