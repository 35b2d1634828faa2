"""Provider dialects: one module per API family behind one protocol (`Dialect`).

    dialect, endpoint = classify("/v1/chat/completions")   # canonical path in
    parts = dialect.parts(endpoint, body)                   # every text, role- and kind-tagged
    facts = dialect.facts(endpoint, body)                   # model, stream, limits, tool names
    answer = parse_response_body("openai", raw)             # text, tool calls, usage
    parser = stream_parser("anthropic", ndjson=False)       # see `proxy.sse.StreamParser`

The proxy (capture, inline check, relay, errors), the streams worker (through
the captured event) and `modeltrail policy eval --body` all read requests
through here, so they judge the same parts.

Adding a provider: one module beside these with a `DIALECT` object that
implements `Dialect`, listed in `DIALECTS` (order matters only where paths
overlap), and its name in `schemas.events.Provider`.
"""

from __future__ import annotations

import orjson

from proxy.dialects import anthropic, ollama, openai, passthrough
from proxy.dialects.base import (
    Assembled,
    Dialect,
    RequestFacts,
    StreamAcc,
    num,
    read_error,
    text_of,
)
from proxy.dialects.paths import canonical_path, forward_path
from schemas.events import ChatMessage, Provider

__all__ = [
    "DIALECTS",
    "PASSTHROUGH",
    "Assembled",
    "Dialect",
    "RequestFacts",
    "StreamAcc",
    "canonical_path",
    "classify",
    "dialect_of",
    "error_payload",
    "extract",
    "forward_path",
    "get",
    "num",
    "parse_response_body",
    "stream_error_event",
    "text_of",
]

#: Every provider dialect, in the order paths are offered to them.
DIALECTS: tuple[Dialect, ...] = (anthropic.DIALECT, ollama.DIALECT, openai.DIALECT)
#: What serves paths no dialect claims.
PASSTHROUGH: Dialect = passthrough.DIALECT
_BY_NAME: dict[str, Dialect] = {d.name: d for d in (*DIALECTS, PASSTHROUGH)}


def get(provider: str) -> Dialect:
    """The dialect of a provider name (`passthrough` for unknown names)."""
    return _BY_NAME.get(provider, PASSTHROUGH)


def classify(path: str) -> tuple[Dialect, str]:
    """The dialect and endpoint a canonical path calls; (PASSTHROUGH, "") when none."""
    for d in DIALECTS:
        ep = d.endpoint(path)
        if ep is not None:
            return d, ep
    return PASSTHROUGH, ""


def dialect_of(path: str) -> Provider:
    """The provider name of a canonical path (`passthrough` when no dialect claims it)."""
    return classify(path)[0].name


def extract(provider: str, path: str, body: object) -> tuple[list[ChatMessage], RequestFacts]:
    """Parts and facts of a parsed request body, as the provider's dialect reads them."""
    d = get(provider)
    endpoint = d.endpoint(path) or ""
    try:
        parts = d.parts(endpoint, body)
        facts = d.facts(endpoint, body) if isinstance(body, dict) else RequestFacts()
    except (AttributeError, TypeError, ValueError, KeyError):
        # an unexpected shape: judge it as a whole rather than not at all
        return PASSTHROUGH.parts("", body), RequestFacts()
    return parts, facts


def parse_response_body(provider: str, path: str, raw: bytes) -> Assembled:
    """Text, tool calls, usage and finish reason of a non-streamed answer (never raises)."""
    out = Assembled()
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return out
    if not isinstance(data, dict):
        return out
    model = data.get("model")
    out.model = model if isinstance(model, str) else None
    err = data.get("error")
    if err is not None:
        read_error(err, out)
        return out
    try:
        get(provider).answer(data, out)
    except (AttributeError, TypeError, ValueError, KeyError):
        pass  # an unexpected shape: keep what was read, never fail the relay
    return out


def error_payload(provider: str, error_type: str, message: str, extra: dict[str, str]) -> bytes:
    """An encoded error body in the provider's own shape."""
    return orjson.dumps(get(provider).error_payload(error_type, message, extra))


def stream_error_event(provider: str, payload: bytes, *, ndjson: bool) -> bytes:
    """A final stream event carrying an encoded error: a line for NDJSON, else the SSE form."""
    if ndjson:
        return payload + b"\n"
    return get(provider).stream_error(payload)
