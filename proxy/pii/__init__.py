"""PII never leaves: transform requests before the backend, rehydrate answers for the client.

`PIIService` (service.py) is what the proxy calls; the request half is
`transform.py`, the answer half `rehydrate.py` (bodies and streams, with
per-provider stream knowledge in `stream_events.py`), the sealed session
mapping `vault.py` over `store.py`, actions per backend and entity type
`policy.py`, placeholders and their damaged forms `placeholders.py`. Entity
spans come from the policy engine's own detectors (`streams.policy.entities`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas.lazy import lazy_exports

if TYPE_CHECKING:
    from proxy.pii.errors import EntityBlocked, VaultKeyError, VaultUnavailable
    from proxy.pii.placeholders import Restorer, placeholder
    from proxy.pii.rehydrate import StreamRehydrator, restore_body
    from proxy.pii.service import PIIService, PIIStats
    from proxy.pii.settings import EntityAction, PIISettings
    from proxy.pii.vault import REVOKED, KeyRing, SessionVault

__all__ = [
    "REVOKED",
    "EntityAction",
    "EntityBlocked",
    "KeyRing",
    "PIIService",
    "PIISettings",
    "PIIStats",
    "Restorer",
    "SessionVault",
    "StreamRehydrator",
    "VaultKeyError",
    "VaultUnavailable",
    "placeholder",
    "restore_body",
]

# Where each public name lives; imported on first access (proxy.settings imports
# proxy.pii.settings, which must not pull the service in).
_WHERE = {
    "EntityBlocked": "proxy.pii.errors",
    "VaultKeyError": "proxy.pii.errors",
    "VaultUnavailable": "proxy.pii.errors",
    "Restorer": "proxy.pii.placeholders",
    "placeholder": "proxy.pii.placeholders",
    "StreamRehydrator": "proxy.pii.rehydrate",
    "restore_body": "proxy.pii.rehydrate",
    "PIIService": "proxy.pii.service",
    "PIIStats": "proxy.pii.service",
    "EntityAction": "proxy.pii.settings",
    "PIISettings": "proxy.pii.settings",
    "REVOKED": "proxy.pii.vault",
    "KeyRing": "proxy.pii.vault",
    "SessionVault": "proxy.pii.vault",
}

__getattr__ = lazy_exports(__name__, _WHERE)
