"""Errors of client identity, answered in the provider's error shape like every proxy error.

ProxyError (proxy.errors)
├── KeyInvalid        401 no key, malformed, unknown, disabled or expired key
├── KeyForbidden      403 the key may not use this backend or model
└── LimitExceeded     429 a rate limit or budget of the key or team; `Retry-After`
KeyBookError          the key topic could not be read or written (not HTTP)
"""

from __future__ import annotations

from datetime import datetime

from proxy.errors import ProxyError
from schemas.events import Outcome

__all__ = ["KeyBookError", "KeyForbidden", "KeyInvalid", "LimitExceeded"]


class KeyInvalid(ProxyError):
    status = 401
    error_type = "authentication_error"

    def response_headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"www-authenticate", b"Bearer")]


class KeyForbidden(ProxyError):
    status = 403
    error_type = "permission_error"


class LimitExceeded(ProxyError):
    status = 429
    error_type = "rate_limit_error"
    outcome: Outcome = "rejected"

    def __init__(self, message: str, *, limit: str, reset_at: datetime, now: datetime) -> None:
        self.reset_at = reset_at
        self.retry_after = max(1, int((reset_at - now).total_seconds() + 0.999))
        super().__init__(message, extra={"limit": limit, "reset_at": reset_at.isoformat()})

    def response_headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"retry-after", str(self.retry_after).encode()),
            (b"x-ratelimit-reset", self.reset_at.isoformat().encode()),
        ]


class KeyBookError(Exception):
    """The identity.keys topic could not be read or written."""

    retriable = True
