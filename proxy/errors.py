"""Errors of the proxy, each mapped to an HTTP status and an error `type`.

    ProxyError                   root; `status`, `error_type`, `retriable`
    ├── BadRequest               400 malformed JSON or an unusable request
    ├── BodyTooLarge             413 request body over `max_body_bytes`
    ├── UnknownBackend           404 no backend matches (header, model, prefix, default)
    ├── SessionKilled            403 a kill command blocks the session
    ├── PolicyBlocked            403 the inline policy blocks this request (names rule ids)
    ├── PassthroughDenied        403 no known API on this path and `passthrough: deny`
    ├── BrokerUnavailable        503 `fail_closed` and the broker is unreachable
    ├── UpstreamPoolExhausted    503 every connection to this backend is busy (retriable)
    └── UpstreamError            502 the backend failed (retriable)
        ├── UpstreamUnreachable  502 connection refused / reset / DNS
        └── UpstreamTimeout      504 connect or read timeout
    SpoolError                   the local spool is unreadable or unwritable (not HTTP)
    └── SpoolFull                the spool reached `spool_max_bytes`
    UnsafeSettings               refusing to start: a default secret or an open relay (not HTTP)

`error_body` renders any of them in the backend's own error shape (OpenAI,
Anthropic or Ollama), so clients parse proxy errors like backend errors.
"""

from __future__ import annotations

from proxy import dialects
from schemas.events import Outcome, Provider

__all__ = [
    "BadRequest",
    "BodyTooLarge",
    "BrokerUnavailable",
    "PassthroughDenied",
    "PolicyBlocked",
    "ProxyError",
    "SessionKilled",
    "SpoolError",
    "SpoolFull",
    "UnknownBackend",
    "UnsafeSettings",
    "UpstreamError",
    "UpstreamPoolExhausted",
    "UpstreamTimeout",
    "UpstreamUnreachable",
    "error_body",
    "stream_error_chunk",
]


class ProxyError(Exception):
    """Root of the proxy errors answered to clients."""

    status = 500
    error_type = "proxy_error"
    retriable = False
    #: the `outcome` recorded on the response event
    outcome: Outcome = "rejected"

    def __init__(self, message: str, *, extra: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}

    def response_headers(self) -> list[tuple[bytes, bytes]]:
        """Extra headers of the error answer (`Retry-After`, `WWW-Authenticate`, ...)."""
        return []


class BadRequest(ProxyError):
    status = 400
    error_type = "invalid_request_error"


class BodyTooLarge(ProxyError):
    status = 413
    error_type = "request_too_large"


class UnknownBackend(ProxyError):
    status = 404
    error_type = "unknown_backend"


class SessionKilled(ProxyError):
    status = 403
    error_type = "session_killed"
    outcome: Outcome = "killed"


class PolicyBlocked(ProxyError):
    status = 403
    error_type = "policy_violation"
    outcome: Outcome = "blocked"


class PassthroughDenied(ProxyError):
    status = 403
    error_type = "passthrough_denied"


class BrokerUnavailable(ProxyError):
    status = 503
    error_type = "audit_unavailable"
    retriable = True
    outcome: Outcome = "blocked"


class UpstreamPoolExhausted(ProxyError):
    """The proxy's own limit of connections to one backend is reached; the backend is fine."""

    status = 503
    error_type = "upstream_pool_exhausted"
    retriable = True
    outcome: Outcome = "rejected"


class UpstreamError(ProxyError):
    status = 502
    error_type = "upstream_error"
    retriable = True
    outcome: Outcome = "unreachable"


class UpstreamUnreachable(UpstreamError):
    error_type = "upstream_unreachable"


class UpstreamTimeout(UpstreamError):
    status = 504
    error_type = "upstream_timeout"
    outcome: Outcome = "timeout"


class SpoolError(Exception):
    """The durable spool cannot be read or written; never retriable in-process."""

    retriable = False


class SpoolFull(SpoolError):
    """An append would pass the spool's size cap; nothing was written."""


class UnsafeSettings(Exception):
    """The settings would expose the proxy (a public default secret, an open relay)."""

    retriable = False


def error_body(provider: Provider, err: ProxyError) -> bytes:
    """The JSON body answering `err`, in the provider's own error shape."""
    return dialects.error_payload(provider, err.error_type, err.message, err.extra)


def stream_error_chunk(provider: Provider, err: ProxyError, *, ndjson: bool) -> bytes:
    """A final stream event carrying `err`: SSE for OpenAI/Anthropic, a line for NDJSON."""
    payload = dialects.error_payload(provider, err.error_type, err.message, err.extra)
    return dialects.stream_error_event(provider, payload, ndjson=ndjson)
