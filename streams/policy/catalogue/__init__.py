"""The built-in rule catalogue: every rule a preset can enable, by id."""

from __future__ import annotations

from streams.policy.catalogue import (
    classifier,
    consumption,
    injection,
    output,
    pii,
    secrets,
    supply,
)
from streams.policy.rules import Rule

__all__ = ["CATALOGUE", "by_id"]

CATALOGUE: tuple[Rule, ...] = (
    injection.RULES
    + classifier.RULES
    + secrets.RULES
    + pii.RULES
    + output.RULES
    + consumption.RULES
    + supply.RULES
)


def by_id() -> dict[str, Rule]:
    """The catalogue keyed by rule id."""
    return {r.id: r for r in CATALOGUE}
