"""Error bodies in each backend's own shape."""

from __future__ import annotations

import orjson

from proxy.errors import (
    BodyTooLarge,
    ProxyError,
    SessionKilled,
    UpstreamError,
    UpstreamTimeout,
    error_body,
    stream_error_chunk,
)


def test_shapes() -> None:
    err = BodyTooLarge("too big")
    assert orjson.loads(error_body("openai", err)) == {
        "error": {"message": "too big", "type": "request_too_large", "code": "request_too_large"}
    }
    assert orjson.loads(error_body("anthropic", err)) == {
        "type": "error",
        "error": {"type": "request_too_large", "message": "too big"},
    }
    assert orjson.loads(error_body("ollama", err))["error"] == "too big"


def test_stream_chunks() -> None:
    err = SessionKilled("blocked", extra={"rule_id": "R1"})
    assert stream_error_chunk("anthropic", err, ndjson=False).startswith(b"event: error\ndata: {")
    chunk = stream_error_chunk("openai", err, ndjson=False)
    assert chunk.startswith(b"data: ") and chunk.endswith(b"\n\n")
    assert orjson.loads(chunk[6:])["error"]["rule_id"] == "R1"
    assert orjson.loads(stream_error_chunk("ollama", err, ndjson=True))["type"] == "session_killed"


def test_hierarchy_statuses_and_retriable() -> None:
    assert issubclass(UpstreamTimeout, UpstreamError) and issubclass(UpstreamError, ProxyError)
    assert (UpstreamTimeout.status, UpstreamError.status, SessionKilled.status) == (504, 502, 403)
    assert UpstreamTimeout.retriable and not SessionKilled.retriable
