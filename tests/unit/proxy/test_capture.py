"""Request and response events built from bodies, per provider and capture policy."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from proxy.capture import build_request, build_response
from proxy.dialects import parse_response_body
from schemas.codec import decode, encode
from schemas.events import LLMRequest, Provider


def _req(provider: Provider, path: str, body: Any, **kw: Any) -> LLMRequest:
    args: dict[str, Any] = {
        "source": "t",
        "session_id": "s",
        "request_id": "r-1",
        "backend": "b",
        "provider": provider,
        "method": "POST",
        "path": path,
        "body": body,
        "body_bytes": 10,
        "client_ip": "1.2.3.4",
        "user_agent": "ua",
        "key_fp": "fp_x",
        "policy": "all",
        "max_chars": 10_000,
    }
    args.update(kw)
    return build_request(**args)


def test_openai_chat_request() -> None:
    body = {
        "model": "gpt-4o",
        "stream": True,
        "max_tokens": 12,
        "temperature": 0.3,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image_url"}]},
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
        ],
        "tools": [{"type": "function", "function": {"name": "calc"}}],
    }
    evt = _req("openai", "/v1/chat/completions", body)
    assert (evt.model, evt.stream, evt.max_tokens, evt.temperature) == ("gpt-4o", True, 12, 0.3)
    assert [(m.role, m.content) for m in evt.messages] == [
        ("system", "be brief"),
        ("user", "hi"),
        ("tool", "42"),
    ]
    assert evt.messages[2].tool_call_id == "c1"
    assert evt.tools == ["calc"]
    assert evt.event_id == evt.request_id == "r-1"
    # model_construct must still produce a valid, round-trippable event
    assert decode(encode(evt)) == evt


def test_anthropic_request_system_blocks_and_tool_results() -> None:
    body = {
        "model": "claude-3",
        "system": [{"type": "text", "text": "sys prompt"}],
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "tool_use", "input": {"a": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "content": "res"}]},
        ],
        "tools": [{"name": "lookup"}],
        "metadata": {"user_id": "u"},
    }
    evt = _req("anthropic", "/v1/messages", body)
    assert [(m.role, m.content) for m in evt.messages] == [
        ("system", "sys prompt"),
        ("user", "q"),
        ("assistant", '{"a":1}'),
        ("tool", "res"),  # what a tool returned is role `tool` in every dialect (issue 9)
    ]
    assert [m.kind for m in evt.messages] == ["system", "message", "tool_call", "tool_result"]
    assert evt.tools == ["lookup"]


def test_ollama_streams_by_default_and_reads_options() -> None:
    body = {"model": "llama3", "messages": [], "options": {"num_predict": 7, "temperature": 1}}
    evt = _req("ollama", "/api/chat", body)
    assert evt.stream is True and evt.max_tokens == 7 and evt.temperature == 1.0
    assert _req("ollama", "/api/chat", {**body, "stream": False}).stream is False


@pytest.mark.parametrize(
    ("path", "body", "texts"),
    [
        ("/v1/completions", {"prompt": "complete me"}, ["complete me"]),
        ("/v1/embeddings", {"input": ["a", "b"]}, ["a\nb"]),
        ("/v1/embeddings", {"input": "one"}, ["one"]),
        ("/v1/responses", {"instructions": "sys", "input": "hello"}, ["sys", "hello"]),
        (
            "/v1/responses",
            {"input": [{"role": "user", "content": [{"type": "input_text", "text": "x"}]}]},
            ["x"],
        ),
    ],
)
def test_other_openai_shapes(path: str, body: dict[str, Any], texts: list[str]) -> None:
    assert [m.content for m in _req("openai", path, body).messages] == texts


def test_metadata_only_captures_no_text() -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "secret prompt"}]}
    evt = _req("openai", "/v1/chat/completions", body, policy="metadata_only")
    assert evt.messages == [] and evt.captured is False and evt.model == "gpt-4o"
    res = build_response(
        source="t", session_id="s", request_id="r", backend="b", provider="openai",
        path="/v1/chat/completions", model="gpt-4o", stream=False, status_code=200,
        outcome="ok", ttfb_ms=1.0, latency_ms=2.0,
        result=parse_response_body("openai", "/v1/chat/completions", _openai_answer()),
        body_bytes=5, policy="metadata_only", max_chars=100,
    )  # fmt: skip
    assert res.text is None and res.tool_calls == [] and res.output_tokens == 5


def test_size_cap_truncates_and_flags() -> None:
    body = {
        "messages": [{"role": "user", "content": "a" * 30}, {"role": "user", "content": "b" * 30}]
    }
    evt = _req("openai", "/v1/chat/completions", body, max_chars=40)
    assert [len(m.content) for m in evt.messages] == [30, 10]
    assert evt.truncated is True


def test_non_json_body_is_metadata() -> None:
    evt = _req("passthrough", "/v1/files", None)
    assert evt.messages == [] and evt.model is None and evt.body_bytes == 10


def _openai_answer() -> bytes:
    return orjson.dumps(
        {
            "model": "gpt-4o-2024",
            "choices": [
                {
                    "message": {
                        "content": "hello",
                        "tool_calls": [
                            {"id": "c1", "function": {"name": "f", "arguments": '{"x":1}'}}
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8},
        }
    )


def test_parse_openai_answer() -> None:
    r = parse_response_body("openai", "/v1/chat/completions", _openai_answer())
    assert (r.text, r.finish_reason, r.model) == ("hello", "tool_calls", "gpt-4o-2024")
    assert (r.input_tokens, r.output_tokens, r.total_tokens) == (3, 5, 8)
    assert [(c.id, c.name, c.arguments) for c in r.tool_calls] == [("c1", "f", '{"x":1}')]


def test_parse_anthropic_answer() -> None:
    raw = orjson.dumps(
        {
            "content": [
                {"type": "text", "text": "a"},
                {"type": "tool_use", "id": "t1", "name": "g", "input": {"q": "z"}},
                {"type": "text", "text": "b"},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 4, "output_tokens": 6},
        }
    )
    r = parse_response_body("anthropic", "/v1/messages", raw)
    assert r.text == "ab" and r.finish_reason == "tool_use"
    assert [(c.name, c.arguments) for c in r.tool_calls] == [("g", '{"q":"z"}')]
    assert (r.input_tokens, r.output_tokens) == (4, 6)


def test_parse_ollama_and_responses_answers() -> None:
    o = parse_response_body(
        "ollama",
        "/api/chat",
        orjson.dumps(
            {
                "message": {
                    "content": "hey",
                    "tool_calls": [{"function": {"name": "h", "arguments": {"k": 2}}}],
                },
                "done_reason": "stop",
                "prompt_eval_count": 2,
                "eval_count": 1,
            }
        ),
    )
    assert (o.text, o.input_tokens, o.output_tokens) == ("hey", 2, 1)
    assert [(c.name, c.arguments) for c in o.tool_calls] == [("h", '{"k":2}')]
    resp = parse_response_body(
        "openai",
        "/v1/responses",
        orjson.dumps(
            {
                "status": "completed",
                "output": [
                    {"type": "message", "content": [{"type": "output_text", "text": "out"}]},
                    {"type": "function_call", "call_id": "k", "name": "fn", "arguments": "{}"},
                ],
                "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
            }
        ),
    )
    assert resp.text == "out" and resp.tool_calls[0].name == "fn" and resp.total_tokens == 3


@pytest.mark.parametrize(
    ("provider", "raw", "etype"),
    [
        (
            "openai",
            b'{"error":{"message":"bad","type":"invalid_request_error"}}',
            "invalid_request_error",
        ),
        (
            "anthropic",
            b'{"type":"error","error":{"type":"overloaded_error","message":"m"}}',
            "overloaded_error",
        ),
        ("ollama", b'{"error":"model not found"}', "error"),
    ],
)
def test_parse_errors(provider: Provider, raw: bytes, etype: str) -> None:
    r = parse_response_body(provider, "/x", raw)
    assert r.error_type == etype and r.error_message


def test_parse_garbage_is_empty_not_an_exception() -> None:
    for raw in (b"", b"not json", b"[1,2]"):
        r = parse_response_body("openai", "/v1/chat/completions", raw)
        assert r.text == "" and r.tool_calls == []


def test_response_total_tokens_derived_and_text_capped() -> None:
    r = parse_response_body("anthropic", "/v1/messages", orjson.dumps({
        "content": [{"type": "text", "text": "x" * 50}], "usage": {"input_tokens": 2, "output_tokens": 3},
    }))  # fmt: skip
    evt = build_response(
        source="t", session_id="s", request_id="r", backend="b", provider="anthropic",
        path="/v1/messages", model="m", stream=False, status_code=200, outcome="ok",
        ttfb_ms=None, latency_ms=1.0, result=r, body_bytes=9, policy="all", max_chars=20,
    )  # fmt: skip
    assert evt.total_tokens == 5 and evt.text == "x" * 20 and evt.truncated is True
    assert decode(encode(evt)) == evt


def test_unexpected_answer_shapes_never_raise() -> None:
    r = parse_response_body(
        "openai", "/v1/chat/completions", b'{"choices":[{"message":{"tool_calls":[1]}}]}'
    )
    assert r.tool_calls == []
    assert parse_response_body("anthropic", "/v1/messages", b'{"content":"str"}').text == ""
