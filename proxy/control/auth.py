"""Bearer-key authentication with scopes for the control API.

Scopes: `read` (look), `kill` (kill and resume sessions), `admin` (everything).
Keys are compared in constant time and never logged; only the key's `id`
appears in logs and as the issuer of a command. The API is never open: with no
configured keys the proxy generates an admin key into a 0600 file
(`proxy.control.keyfile`).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from proxy.control.errors import ControlConfigError
from proxy.netaddr import is_loopback
from proxy.settings import ControlKey, ProxySettings

__all__ = ["KeyAuth", "Principal", "Scope", "check_bind", "is_loopback", "require"]

Scope = Literal["read", "kill", "admin"]

bearer = HTTPBearer(auto_error=False, description="a control API key")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who called: a key id and the scopes it holds."""

    id: str
    scopes: frozenset[str]

    def allows(self, scope: Scope) -> bool:
        return "admin" in self.scopes or scope in self.scopes


def check_bind(settings: ProxySettings) -> None:
    """Raise ControlConfigError when the configured control keys are inconsistent."""
    ids = [k.id for k in settings.control_keys]
    if len(ids) != len(set(ids)):
        raise ControlConfigError("control key ids must be unique")
    if any(not k.key.get_secret_value() for k in settings.control_keys):
        raise ControlConfigError("a control key is empty")


class KeyAuth:
    """Resolve a bearer token to a Principal, in constant time per configured key."""

    def __init__(self, keys: list[ControlKey]) -> None:
        if not keys:
            raise ControlConfigError("the control API needs at least one key")
        # Compare digests: equal length whatever the presented token's length.
        self._keys = [
            (hashlib.sha256(k.key.get_secret_value().encode()).digest(), k.id, frozenset(k.scopes))
            for k in keys
        ]

    def identify(self, token: str | None) -> Principal | None:
        """The principal holding `token`, or None."""
        if not token:
            return None
        presented = hashlib.sha256(token.encode()).digest()
        found: Principal | None = None
        for digest, key_id, scopes in self._keys:  # no early exit: timing does not leak
            if hmac.compare_digest(presented, digest):
                found = Principal(id=key_id, scopes=scopes)
        return found


def require(scope: Scope):  # type: ignore[no-untyped-def]
    """A FastAPI dependency that admits callers holding `scope` (401/403 otherwise)."""

    async def dependency(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Security(bearer),
    ) -> Principal:
        auth: KeyAuth = request.app.state.auth
        principal = auth.identify(credentials.credentials if credentials else None)
        if principal is None:
            raise HTTPException(
                status_code=401,
                detail="missing or invalid bearer key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not principal.allows(scope):
            raise HTTPException(status_code=403, detail=f"this key lacks the {scope!r} scope")
        return principal

    return dependency
