"""Rule definitions: plain frozen data, matched by the engine.

One `Rule` type with a `kind`:

- `pattern`  RE2 patterns over normalised text (optionally a validator by name);
- `tool`     tool-call names matched against glob deny lists;
- `volume`   a session metric from `SessionContext` (or the event) over a threshold;
- `smuggling` invisible text found by normalisation (Unicode tags, bidi, zero-width);
- `allowlist` a request's model or backend (`subject`) outside the `allow` globs;
- `derived`  another finding (`of_rules` globs) on a request whose path matches `paths`
  (secrets sent to an embeddings endpoint);
- `classifier` the learned text classifier's probability over a threshold (None: the
  model's own threshold for the role, picked on validation data).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from schemas.events import Action, Severity, Target

__all__ = [
    "ALL_TARGETS",
    "OUTPUT_TARGETS",
    "OWASP_IDS",
    "Family",
    "MaskKind",
    "Metric",
    "Rule",
    "RuleKind",
    "Subject",
]

RuleKind = Literal["pattern", "tool", "volume", "smuggling", "classifier", "allowlist", "derived"]
Subject = Literal["model", "backend"]
MaskKind = Literal["secret", "pii", "phrase"]
Family = Literal[
    "injection", "jailbreak", "leakage", "pii", "secrets", "output", "agency", "consumption", "custom"
]  # fmt: skip
Metric = Literal[
    "requests_per_minute",
    "tokens_total",
    "bytes_total",
    "prompt_chars",
    "session_duration_s",
    "tool_calls_total",
    "tool_calls_per_event",
    "rate_anomaly",
    "tag_chars",
    "invisible_chars",
]
OWASP_IDS = frozenset(f"LLM{n:02d}" for n in range(1, 11))
ALL_TARGETS: frozenset[Target] = frozenset(
    {"request", "response", "stream_window", "tool_call", "session"}
)
OUTPUT_TARGETS: frozenset[Target] = frozenset({"response", "stream_window"})


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of the catalogue or of a policy file."""

    id: str
    description: str
    owasp: str
    severity: Severity
    action: Action
    targets: frozenset[Target]
    kind: RuleKind = "pattern"
    family: Family = "custom"
    # None means every role; request messages carry their own role, outputs are "assistant".
    roles: frozenset[str] | None = None
    patterns: tuple[str, ...] = ()
    validator: str | None = None
    mask: MaskKind = "phrase"
    # pattern: minimum number of matches in one event; volume: the limit;
    # classifier: the probability threshold (0-1).
    threshold: float | None = None
    metric: Metric | None = None
    tools: tuple[str, ...] = ()
    # Also scan rewrites an attacker uses to hide text (rot13, leetspeak, reversed).
    transforms: bool = False
    enabled: bool = True
    risk: float | None = None
    # Ids of rules whose overlapping match wins over this one (a card is not also a phone).
    yields_to: tuple[str, ...] = ()
    # allowlist: the model/backend globs allowed; pattern: a match whose first group (a
    # package, a URL host) matches one of these globs is not reported.
    allow: tuple[str, ...] = ()
    subject: Subject | None = None
    # Request path globs the rule is limited to (empty: every path).
    paths: tuple[str, ...] = ()
    of_rules: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def applies(self, target: Target, role: str | None) -> bool:
        """Whether this rule looks at text of `target` written by `role`."""
        if target not in self.targets:
            return False
        return self.roles is None or role is None or role in self.roles

    def summary(self) -> dict[str, object]:
        """A JSON-friendly description (for `policy show` and the version hash)."""
        d = asdict(self)
        d["targets"] = sorted(self.targets)
        d["roles"] = sorted(self.roles) if self.roles is not None else None
        d["patterns"] = list(self.patterns)
        d["tools"] = list(self.tools)
        d["yields_to"] = list(self.yields_to)
        for k in ("allow", "paths", "of_rules"):
            d[k] = list(d[k])
        d.pop("extra", None)
        return d
