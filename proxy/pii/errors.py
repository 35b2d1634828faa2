"""Errors of the PII transform, answered in the provider's error shape.

ProxyError (proxy.errors)
├── EntityBlocked     403 the request carries an entity type whose action is `block`
└── VaultUnavailable  503 the vault store cannot be read or written (retriable)
VaultKeyError         the key ring is unusable (a settings error, raised at start-up)
"""

from __future__ import annotations

from proxy.errors import ProxyError
from schemas.events import Outcome

__all__ = ["EntityBlocked", "VaultKeyError", "VaultUnavailable"]


class EntityBlocked(ProxyError):
    status = 403
    error_type = "pii_blocked"
    outcome: Outcome = "blocked"


class VaultUnavailable(ProxyError):
    status = 503
    error_type = "pii_vault_unavailable"
    retriable = True
    outcome: Outcome = "blocked"


class VaultKeyError(ValueError):
    """A vault key is not 32 bytes of URL-safe base64."""

    retriable = False
