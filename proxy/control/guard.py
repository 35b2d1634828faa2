"""Pure ASGI guard in front of the control API: Host allow-list and JSON-only writes.

- `Host` must be one of `allowed_hosts` (`*.example.com` matches sub-domains, `*`
  matches anything): a DNS-rebinding page reaches the API under its own host name
  and is refused before any route runs. `/control/health` stays open so probes
  that send a pod IP still pass.
- Every state-changing method (POST, PUT, PATCH, DELETE) must carry
  `Content-Type: application/json` (`application/yaml` for the policy document
  of `/control/policy/validate`): a cross-origin page can only send the simple
  content types without a CORS preflight, and this API answers no preflight.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ControlGuard"]

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_OPEN_PATHS = frozenset({"/control/health"})
_JSON = frozenset({"application/json"})
_BODY_TYPES = {"/control/policy/validate": frozenset({"application/yaml", "application/x-yaml"})}


class ControlGuard:
    """Refuse requests with an unlisted Host (400) or a non-JSON write (415)."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str]) -> None:
        hosts = [h.strip().lower() for h in allowed_hosts if h.strip()]
        if not hosts:
            raise ValueError("allowed_hosts must not be empty (use ['*'] to allow any)")
        self.app = app
        self.any_host = "*" in hosts
        self.exact = frozenset(h for h in hosts if not h.startswith("*."))
        self.suffixes = tuple(h[1:] for h in hosts if h.startswith("*."))

    def host_allowed(self, host_header: str) -> bool:
        """Whether a `Host` header value (port included or not) is allowed."""
        if self.any_host:
            return True
        host = host_header.strip().lower()
        if host.startswith("["):  # [::1]:9090
            host = host[: host.find("]") + 1] if "]" in host else host
        else:
            host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        return host in self.exact or (bool(host) and host.endswith(self.suffixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = content_type = ""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
        if scope["path"] not in _OPEN_PATHS and not self.host_allowed(host):
            await _refuse(send, 400, "invalid_host", "this Host is not allowed")
            return
        if scope["method"] in _WRITES:
            media = content_type.split(";", 1)[0].strip().lower()
            if media not in _JSON and media not in _BODY_TYPES.get(scope["path"], ()):
                await _refuse(
                    send,
                    415,
                    "unsupported_media_type",
                    "state-changing calls need a JSON body (Content-Type: application/json)",
                )
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, kind: str, message: str) -> None:
    body = orjson.dumps({"error": {"type": kind, "message": message}})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
