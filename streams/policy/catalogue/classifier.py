"""Learned-classifier rules: one per target, each with its own threshold and action (LLM01).

The classifier (`streams.policy.classifier`) scores a text's probability of
being a prompt injection, a jailbreak or a system-prompt extraction. A rule's
`threshold` is that probability; left unset, the model's own threshold for the
role applies (picked on validation data at training: one for user text, a
stricter one for tool results, where documents are long and varied).
"""

from __future__ import annotations

from streams.policy.catalogue._build import rule
from streams.policy.rules import OUTPUT_TARGETS

__all__ = ["RULES"]

RULES = (
    rule(
        "ML-001", "Learned classifier: injection, jailbreak or prompt extraction in user text",
        "LLM01", "high", "block", {"request"}, "injection", kind="classifier", roles={"user"},
    ),
    rule(
        "ML-002", "Learned classifier: instructions injected into a tool result or retrieved document",
        "LLM01", "high", "block", {"request"}, "injection", kind="classifier",
        roles={"tool", "function"},
    ),
    rule(
        "ML-003", "Learned classifier: model output reads like an injection or jailbreak",
        "LLM05", "warning", "flag", OUTPUT_TARGETS, "injection", kind="classifier",
    ),
)  # fmt: skip
