"""Webhook body signatures: `X-Modeltrail-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`.

The MAC covers ``f"{t}.".encode() + body``, so a receiver can refuse replays older
than its tolerance. Receivers verify with `verify` (or its three lines in any language).
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SIGNATURE_HEADER", "sign", "verify"]

SIGNATURE_HEADER = "X-Modeltrail-Signature"


def _mac(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The header value for `body` sent at `timestamp`."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(secret: bytes, body: bytes, header: str, now: int, tolerance_s: int = 300) -> bool:
    """Whether `header` is a valid signature of `body`, made within `tolerance_s` of `now`."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(given, _mac(secret, timestamp, body))
