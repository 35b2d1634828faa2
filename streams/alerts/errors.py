"""Errors of the alerts service.

AlertsError                 root
├── WebhookRefused          the URL points somewhere webhooks may not go; not retriable
└── DeliveryFailed          the receiver did not take the body; retriable for timeouts,
                            connection errors, 408, 429 and 5xx
"""

from __future__ import annotations

__all__ = ["AlertsError", "DeliveryFailed", "WebhookRefused"]


class AlertsError(Exception):
    """Root of every alerts error."""

    retriable = False


class WebhookRefused(AlertsError):
    """A webhook URL resolves to a loopback, private, link-local or metadata address."""


class DeliveryFailed(AlertsError):
    """One delivery attempt failed."""

    def __init__(self, message: str, *, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable
