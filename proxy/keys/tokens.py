"""Client key material: new keys, key ids and the keyed hash that is all we store.

A key is `mt-` + 43 url-safe characters (32 random bytes). It is shown once, at
creation or rotation; the proxy keeps only `key_hash(secret, key)`, an
HMAC-SHA256 under the server's key secret, so a leaked topic or Redis copy
cannot be turned back into keys, nor checked offline without the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

__all__ = ["KEY_PREFIX", "key_hash", "looks_like_key", "new_key", "new_key_id"]

KEY_PREFIX = "mt-"
_KEY_RE = re.compile(r"^mt-[A-Za-z0-9_-]{43}$")


def new_key() -> str:
    """A fresh client key (`mt-...`): 256 random bits."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_key_id() -> str:
    """A fresh key id (`mk_` + 16 hex): public, safe to log and store."""
    return "mk_" + secrets.token_hex(8)


def looks_like_key(value: str) -> bool:
    """Whether `value` has the shape of a modeltrail key (no lookup, no secret needed)."""
    return bool(_KEY_RE.match(value))


def key_hash(secret: bytes, key: str) -> str:
    """The stored form of a key: hex HMAC-SHA256 under the server secret."""
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()
