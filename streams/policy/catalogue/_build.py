"""A compact constructor for catalogue rules."""

from __future__ import annotations

from collections.abc import Iterable

from schemas.events import Action, Severity, Target
from streams.policy.rules import Family, MaskKind, Metric, Rule, RuleKind, Subject

__all__ = ["INPUT_ROLES", "UNTRUSTED_ROLES", "rule"]

# Text an attacker controls: the user's turn and whatever tools or retrieval brought back.
UNTRUSTED_ROLES = frozenset({"user", "tool", "function"})
INPUT_ROLES = frozenset({"user", "tool", "function", "system", "developer"})


def rule(
    id: str,
    description: str,
    owasp: str,
    severity: Severity,
    action: Action,
    targets: Iterable[Target],
    family: Family,
    *,
    kind: RuleKind = "pattern",
    roles: Iterable[str] | None = None,
    patterns: Iterable[str] = (),
    validator: str | None = None,
    mask: MaskKind = "phrase",
    threshold: float | None = None,
    metric: Metric | None = None,
    tools: Iterable[str] = (),
    transforms: bool = False,
    yields_to: Iterable[str] = (),
    allow: Iterable[str] = (),
    subject: Subject | None = None,
    paths: Iterable[str] = (),
    of_rules: Iterable[str] = (),
) -> Rule:
    """Build one frozen `Rule`."""
    return Rule(
        id=id,
        description=description,
        owasp=owasp,
        severity=severity,
        action=action,
        targets=frozenset(targets),
        kind=kind,
        family=family,
        roles=frozenset(roles) if roles is not None else None,
        patterns=tuple(patterns),
        validator=validator,
        mask=mask,
        threshold=threshold,
        metric=metric,
        tools=tuple(tools),
        transforms=transforms,
        yields_to=tuple(yields_to),
        allow=tuple(allow),
        subject=subject,
        paths=tuple(paths),
        of_rules=tuple(of_rules),
    )
