"""Who is calling: client address, API-key fingerprint and session id.

Session id, first match wins (DESIGN.md): the configured session header, the
body's `user` or `metadata.user_id`, then a fingerprint of (salted API-key
hash, client address, backend) that starts a new session after an idle window.
Ids match `SESSION_ID_PATTERN` (no `/`, CR/LF or spaces, at most 128 characters):
an invalid header is refused (400); a body `user` outside it (an end-user name
with spaces, say) becomes `u-<hash>`, stable for the same value.
`X-Forwarded-For` is honoured only when the peer is a configured trusted proxy.
Raw API keys never leave this module: only `fingerprint()` output does.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections.abc import Mapping
from typing import Any

from proxy.errors import BadRequest
from schemas.ids import SESSION_ID_PATTERN, fingerprint, safe_session_id

__all__ = ["ClientAddress", "SessionResolver", "api_key_of"]

_IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientAddress:
    """The client's address, following X-Forwarded-For through trusted proxies only."""

    def __init__(self, trusted: list[str]) -> None:
        self._nets: list[_IPNet] = [ipaddress.ip_network(c, strict=False) for c in trusted]
        self._cache: dict[str, bool] = {}

    def _trusted(self, ip: str) -> bool:
        hit = self._cache.get(ip)
        if hit is None:
            try:
                addr = ipaddress.ip_address(ip.strip())
                hit = any(addr in net for net in self._nets)
            except ValueError:
                hit = False
            if len(self._cache) < 10_000:
                self._cache[ip] = hit
        return hit

    def resolve(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The right-most untrusted hop, or the peer itself when it is not trusted."""
        if not peer or not forwarded_for or not self._nets or not self._trusted(peer):
            return peer
        for hop in reversed(forwarded_for.split(",")):
            hop = hop.strip()
            if hop and not self._trusted(hop):
                return hop
        return peer


def api_key_of(headers: Mapping[str, str]) -> str | None:
    """The client's API key from the usual headers, or None."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        return value.strip() if scheme.lower() == "bearer" and value else auth
    return headers.get("x-api-key") or headers.get("api-key") or headers.get("x-goog-api-key")


class SessionResolver:
    """Assign session ids; the fingerprint sessions live in a bounded in-memory map."""

    def __init__(
        self, header: str, salt: str, idle_s: float, *, max_sessions: int = 100_000
    ) -> None:
        self.header = header.lower()
        self._salt = salt
        self._idle = idle_s
        self._max = max_sessions
        self._fp_cache: dict[str, str] = {}
        # fingerprint -> (session id, last seen monotonic)
        self._live: dict[str, tuple[str, float]] = {}

    def key_fingerprint(self, key: str | None) -> str | None:
        """The salted fingerprint of an API key (cached: HMAC once per distinct key)."""
        if not key:
            return None
        fp = self._fp_cache.get(key)
        if fp is None:
            fp = fingerprint(key, self._salt)
            if len(self._fp_cache) >= self._max:
                self._fp_cache.clear()
            self._fp_cache[key] = fp
        return fp

    def resolve(
        self,
        headers: Mapping[str, str],
        body: Any,
        key_fp: str | None,
        client_ip: str | None,
        backend: str,
        now: float | None = None,
    ) -> str:
        """The session id of one request.

        Raises:
            BadRequest: the session header is not a valid session id.
        """
        explicit = headers.get(self.header)
        if explicit:
            if not safe_session_id(explicit):
                raise BadRequest(
                    f"the {self.header} header must match {SESSION_ID_PATTERN} "
                    "(letters, digits and . _ : @ + = -, at most 128)"
                )
            return explicit
        if isinstance(body, dict):
            user = body.get("user")
            if isinstance(user, str) and user:
                return _user_session(user)
            meta = body.get("metadata")
            if isinstance(meta, dict):
                uid = meta.get("user_id")
                if isinstance(uid, str) and uid:
                    return _user_session(uid)
        return self._fingerprint_session(key_fp, client_ip, backend, now)

    def _fingerprint_session(
        self, key_fp: str | None, client_ip: str | None, backend: str, now: float | None
    ) -> str:
        now = time.monotonic() if now is None else now
        base = f"{key_fp or '-'}|{client_ip or '-'}|{backend}"
        current = self._live.get(base)
        if current is not None and now - current[1] <= self._idle:
            self._live[base] = (current[0], now)
            return current[0]
        digest = hashlib.sha256(base.encode()).hexdigest()[:12]
        # A new idle window starts a new session: suffix the start time (ms, strictly
        # after the previous window's) so ids differ across windows and restarts.
        start = int(time.time() * 1000)
        if current is not None:
            start = max(start, int(current[0].rsplit("-", 1)[1], 16) + 1)
        session = f"fp-{digest}-{start:x}"
        if len(self._live) >= self._max:
            self._prune(now)
        self._live[base] = (session, now)
        return session

    def _prune(self, now: float) -> None:
        stale = [k for k, (_, seen) in self._live.items() if now - seen > self._idle]
        for k in stale:
            del self._live[k]
        if len(self._live) >= self._max:
            self._live.clear()


def _user_session(user: str) -> str:
    """A body-supplied user id as a session id: itself when valid, else a stable hash."""
    if safe_session_id(user):
        return user
    return "u-" + hashlib.sha256(user.encode("utf-8", "surrogatepass")).hexdigest()[:32]
