"""Identifiers: UUIDv7 event ids (time-sortable) and salted key fingerprints."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
import time
import uuid

__all__ = ["SESSION_ID_PATTERN", "fingerprint", "safe_session_id", "uuid7", "uuid7_time_ms"]

#: What a session id may be: safe in a URL path segment, an HTTP header, a Redis key
#: and a log line (no `/`, no spaces, no CR/LF), and short.
SESSION_ID_PATTERN = r"^[A-Za-z0-9._:@+=-]{1,128}$"
_SESSION_ID = re.compile(SESSION_ID_PATTERN)


def safe_session_id(value: str) -> bool:
    """Whether `value` is a valid session id."""
    return _SESSION_ID.fullmatch(value) is not None


_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7() -> str:
    """Return a RFC 9562 UUIDv7 string; monotonic within one process."""
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            # Same (or skewed) millisecond: bump a 12-bit counter so ids stay sortable.
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
        counter = _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (counter & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand_b
    # The canonical 8-4-4-4-12 form, written directly: uuid.UUID(int=...) costs twice as much.
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid7_time_ms(value: str) -> int:
    """Return the Unix millisecond timestamp embedded in a UUIDv7 string."""
    return uuid.UUID(value).int >> 80


def fingerprint(secret: str, salt: str) -> str:
    """Return a salted, non-reversible fingerprint of a secret (an API key, say).

    Only the first 16 hex characters of an HMAC-SHA256 are kept: enough to tell
    keys apart, useless for recovering them.
    """
    digest = hmac.new(salt.encode(), secret.encode(), hashlib.sha256).hexdigest()
    return f"fp_{digest[:16]}"
