"""The control API of the proxy: sessions, kills, flagged, history, stats, metrics."""

from __future__ import annotations

from proxy.control.app import create_control_app
from proxy.control.auth import KeyAuth, Principal, check_bind, is_loopback
from proxy.control.errors import ControlConfigError, ControlError, HistoryError
from proxy.control.history import query_history

__all__ = [
    "ControlConfigError",
    "ControlError",
    "HistoryError",
    "KeyAuth",
    "Principal",
    "check_bind",
    "create_control_app",
    "is_loopback",
    "query_history",
]
