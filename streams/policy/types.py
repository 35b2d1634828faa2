"""The policy engine's contract: what a rule sees and what it returns.

Pure data, no I/O. The faust agents, the proxy (inline checks) and the CLI
(`modeltrail policy eval`) all build a `SessionContext`, call
`PolicyEngine.evaluate(event, ctx)` and get `Finding`s back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from schemas.events import Action, BlockMode, Evidence, Severity, Target

__all__ = [
    "ACTION_RANK",
    "DEFAULT_WEIGHTS",
    "SEVERITY_RANK",
    "Decision",
    "Finding",
    "Mode",
    "SessionContext",
    "SessionPolicy",
    "decide",
]

Decision = Literal["allow", "flag", "block", "kill"]
# "enforce" acts on decisions; "audit" only records them.
Mode = Literal["enforce", "audit"]
# Risk points a finding adds to its session, by severity (policy files may override).
DEFAULT_WEIGHTS: dict[str, float] = {"info": 1.0, "warning": 5.0, "high": 25.0, "critical": 60.0}

ACTION_RANK: dict[str, int] = {"allow": 0, "flag": 1, "block": 2, "kill": 3}
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "high": 2, "critical": 3}


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How findings add up to a kill: risk points per severity, a decaying score, a threshold."""

    risk_kill_threshold: float = 100.0
    risk_half_life_s: float = 600.0
    kill_block_mode: BlockMode = "duration"
    kill_duration_s: float = 900.0
    severity_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))


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
    # Indices of a request's messages this session has not had judged yet
    # (`streams.policy.turns.JudgedParts`); None judges every message.
    new_parts: tuple[int, ...] | None = None


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
