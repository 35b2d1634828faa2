"""The policy engine's contract: what a rule sees and what it returns.

Pure data, no I/O. The faust agents, the proxy (inline checks) and the CLI
(`modeltrail policy eval`) all build a `SessionContext`, call
`PolicyEngine.evaluate(event, ctx)` and get `Finding`s back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from schemas.events import Action, Evidence, Severity, Target

__all__ = ["ACTION_RANK", "Decision", "Finding", "SessionContext", "decide"]

Decision = Literal["allow", "flag", "block", "kill"]

ACTION_RANK: dict[str, int] = {"allow": 0, "flag": 1, "block": 2, "kill": 3}


@dataclass(frozen=True, slots=True)
class SessionContext:
    """A snapshot of one session's state, handed to rules; `now` replaces the clock."""

    session_id: str
    now: datetime
    started_at: datetime | None = None
    requests_total: int = 0
    requests_last_minute: int = 0
    tokens_total: int = 0
    bytes_total: int = 0
    tool_calls_total: int = 0
    violations_total: int = 0
    risk_score: float = 0.0
    # Requests per minute the session usually makes (exponentially weighted);
    # None until enough history exists to judge an anomaly.
    baseline_rpm: float | None = None
    baseline_samples: int = 0


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule that matched one event (or the session as a whole)."""

    rule_id: str
    description: str
    owasp: str
    severity: Severity
    action: Action
    target: Target
    role: str | None = None
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)
    # The learned classifier's probability, for findings of classifier rules.
    score: float | None = None


def decide(findings: list[Finding] | tuple[Finding, ...]) -> Decision:
    """The strongest action among findings, or `allow` when there are none."""
    best: Decision = "allow"
    for f in findings:
        if ACTION_RANK[f.action] > ACTION_RANK[best]:
            best = f.action
    return best
