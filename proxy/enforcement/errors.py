"""Errors of kill enforcement and the session store.

Hierarchy::

    EnforcementError            root; `retriable` says whether trying again may help
    ├── ReplayTimeout           start-up replay of session.commands did not finish (retriable)
    ├── CommandTopicMissing     the session.commands topic does not exist (not retriable)
    └── SessionStoreError              the session store (Redis) failed (retriable)
"""

from __future__ import annotations

__all__ = ["CommandTopicMissing", "EnforcementError", "ReplayTimeout", "SessionStoreError"]


class EnforcementError(Exception):
    """Root of every enforcement error."""

    retriable: bool = False


class ReplayTimeout(EnforcementError):
    """The replay of the command topic did not reach the end offsets in time."""

    retriable = True


class CommandTopicMissing(EnforcementError):
    """The followed topic does not exist on the broker (run `ensure_topics` first)."""


class SessionStoreError(EnforcementError):
    """The session store could not be read or written."""

    retriable = True
