"""Errors of the policy engine.

Hierarchy::

    PolicyError                  root; never retriable (a policy is fixed, not flaky)
    ├── PolicyValidationError    a policy file or preset is invalid (names file, line, field)
    └── ClassifierError          the committed classifier model is missing, unreadable or
                                 does not match its manifest's sha256
"""

from __future__ import annotations

__all__ = ["ClassifierError", "PolicyError", "PolicyValidationError"]


class PolicyError(Exception):
    """Root of every policy engine error."""

    retriable = False


class PolicyValidationError(PolicyError):
    """A policy document is invalid; `str()` is `file:line: field: message` per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class ClassifierError(PolicyError):
    """The classifier artifact cannot be trusted or read; loading fails loudly."""
