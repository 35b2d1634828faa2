"""The pure policy engine: rules over normalised text, tool calls and session volume.

engine = load_policy("standard", [Path("policy.yaml")])
findings = engine.evaluate(event, ctx)   # no I/O, no clock, no await
"""

from __future__ import annotations

from streams.policy.config import PRESETS, load_policy, validate_file
from streams.policy.engine import PolicyEngine
from streams.policy.errors import PolicyError, PolicyValidationError
from streams.policy.holder import PolicyHolder
from streams.policy.rules import Rule
from streams.policy.types import (
    ACTION_RANK,
    DEFAULT_WEIGHTS,
    SEVERITY_RANK,
    Decision,
    Finding,
    Mode,
    SessionContext,
    SessionPolicy,
    decide,
)

__all__ = [
    "ACTION_RANK",
    "DEFAULT_WEIGHTS",
    "PRESETS",
    "SEVERITY_RANK",
    "Decision",
    "Finding",
    "Mode",
    "PolicyEngine",
    "PolicyError",
    "PolicyHolder",
    "PolicyValidationError",
    "Rule",
    "SessionContext",
    "SessionPolicy",
    "decide",
    "load_policy",
    "validate_file",
]
