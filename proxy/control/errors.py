"""Errors of the control API.

Hierarchy::

    ControlError             root; `retriable` says whether trying again may help
    ├── ControlConfigError   refusing to start: e.g. a non-loopback bind without keys
    ├── HistoryError         the Parquet trail could not be queried (retriable)
    └── QueryRejected        dashboard SQL refused: not one SELECT, failed or timed out
"""

from __future__ import annotations

__all__ = ["ControlConfigError", "ControlError", "HistoryError", "QueryRejected"]


class ControlError(Exception):
    """Root of every control API error."""

    retriable: bool = False


class ControlConfigError(ControlError):
    """The control API's settings are unsafe or inconsistent; it will not start."""


class HistoryError(ControlError):
    """DuckDB could not read the Parquet trail."""

    retriable = True


class QueryRejected(ControlError):
    """SQL from the dashboard was refused or failed; the message says why."""
