"""Errors of the policy engine.

Hierarchy::

    PolicyError                  root; never retriable (a policy is fixed, not flaky)
    └── PolicyValidationError    a policy file or preset is invalid (names file, line, field)
"""

from __future__ import annotations

__all__ = ["PolicyError", "PolicyValidationError"]


class PolicyError(Exception):
    """Root of every policy engine error."""

    retriable = False


class PolicyValidationError(PolicyError):
    """A policy document is invalid; `str()` is `file:line: field: message` per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))
