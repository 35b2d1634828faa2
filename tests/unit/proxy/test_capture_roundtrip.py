"""Events built with `model_construct` on the hot path encode exactly like validated ones."""

from __future__ import annotations

from proxy.capture import build_request, build_response, build_window
from proxy.dialects import Assembled
from schemas.codec import decode, encode


def test_builders_emit_the_bytes_a_validated_event_encodes_to() -> None:
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "calc"}}],
        "max_tokens": 10,
        "temperature": 1,
        "stream": True,
    }
    req = build_request(
        source="p",
        session_id="s",
        request_id="0192e4a0-0000-7000-8000-000000000001",
        backend="fake",
        provider="openai",
        method="POST",
        path="/v1/chat/completions",
        body=body,
        body_bytes=123,
        client_ip="127.0.0.1",
        user_agent=None,
        key_fp=None,
        policy="all",
        max_chars=4,
    )
    resp = build_response(
        source="p",
        session_id="s",
        request_id=req.request_id or "",
        backend="fake",
        provider="openai",
        path="/v1/chat/completions",
        model=req.model,
        stream=True,
        status_code=200,
        outcome="ok",
        ttfb_ms=1.0,
        latency_ms=2.0,
        result=Assembled(text="the answer", input_tokens=3, output_tokens=4),
        body_bytes=50,
        policy="all",
        max_chars=100,
    )
    window = build_window(req, 0, 0, "the answer")
    for evt in (req, resp, window):
        again = type(evt).model_validate(evt.model_dump())
        assert encode(evt) == encode(again)
        assert decode(encode(evt)) == evt
    assert req.truncated and req.messages[0].content == "hell"
    assert resp.total_tokens == 7
