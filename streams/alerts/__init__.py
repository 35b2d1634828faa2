"""Alert webhooks: violations and session commands delivered to HTTP receivers as JSON,
OCSF Detection Findings or Slack messages, signed, retried, dead-lettered.

Its own process (`python -m streams.alerts`), not a faust agent and not part of the
sink: a slow or failing receiver must never delay judgement or the audit trail,
and it scales and restarts on its own consumer group.
"""

from __future__ import annotations

from streams.alerts.errors import AlertsError, DeliveryFailed, WebhookRefused
from streams.alerts.formats import OCSF_VERSION, to_json, to_ocsf, to_slack
from streams.alerts.settings import AlertsSettings, WebhookSpec
from streams.alerts.signing import SIGNATURE_HEADER, sign, verify

__all__ = [
    "OCSF_VERSION",
    "SIGNATURE_HEADER",
    "AlertsError",
    "AlertsSettings",
    "DeliveryFailed",
    "WebhookRefused",
    "WebhookSpec",
    "sign",
    "to_json",
    "to_ocsf",
    "to_slack",
    "verify",
]
