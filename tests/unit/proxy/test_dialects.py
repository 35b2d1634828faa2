"""Provider dialects: paths, every text a request carries (tagged), errors; one protocol."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from proxy import dialects
from proxy.dialects import (
    DIALECTS,
    PASSTHROUGH,
    canonical_path,
    classify,
    extract,
    forward_path,
)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("/v1/chat/completions", "/v1/chat/completions"),
        ("/v1/%63hat/completions", "/v1/chat/completions"),
        ("/v1/x/../chat/completions", "/v1/chat/completions"),
        ("/v1/x/%2E%2E/chat/completions", "/v1/chat/completions"),
        ("/v1/./chat/./completions", "/v1/chat/completions"),
        ("//v1///chat//completions", "/v1/chat/completions"),
        ("/v1%2Fchat%2Fcompletions", "/v1/chat/completions"),
        ("/v1\\chat\\completions", "/v1/chat/completions"),
        ("/../../v1/messages", "/v1/messages"),
        ("/v1/models/", "/v1/models/"),
        ("/v1/models/..", "/v1/"),
        ("", "/"),
    ],
)
def test_canonical_path(raw: str, canonical: str) -> None:
    assert canonical_path(raw) == canonical
    # forwarded escaped once: the backend's one decoding gives the judged path back
    assert canonical_path(forward_path(canonical)) == canonical


def test_a_double_encoded_path_stays_what_was_judged() -> None:
    judged = canonical_path("/v1/%2563hat/completions")  # one decoding, as a backend does
    assert judged == "/v1/%63hat/completions" and classify(judged)[0] is PASSTHROUGH
    assert forward_path(judged) == "/v1/%2563hat/completions"  # not "/v1/%63hat/..."


@pytest.mark.parametrize(
    ("path", "provider", "endpoint"),
    [
        ("/v1/chat/completions", "openai", "chat"),
        ("/v1/completions", "openai", "completions"),
        ("/v1/responses", "openai", "responses"),
        ("/v1/embeddings", "openai", "embeddings"),
        ("/v1/models", "openai", "models"),
        ("/v1/messages", "anthropic", "messages"),
        ("/v1/messages/count_tokens", "anthropic", "count_tokens"),
        ("/api/chat", "ollama", "chat"),
        ("/api/generate", "ollama", "generate"),
        ("/api/embed", "ollama", "embed"),
        ("/v2/agent", "passthrough", ""),
    ],
)
def test_classify(path: str, provider: str, endpoint: str) -> None:
    d, ep = classify(path)
    assert (d.name, ep) == (provider, endpoint)


def _tagged(provider: str, path: str, body: Any) -> list[tuple[str, str | None, str]]:
    parts, _ = extract(provider, path, body)
    return [(m.role, m.kind, m.content) for m in parts]


TOOL = {
    "type": "function",
    "function": {
        "name": "fetch",
        "description": "Fetch a web page.",
        "parameters": {
            "type": "object",
            "properties": {"url": {"type": "string", "description": "the address"}},
        },
    },
}

CASES: dict[str, tuple[str, str, dict[str, Any], list[tuple[str, str | None, str]]]] = {
    "openai chat, all of it": (
        "openai",
        "/v1/chat/completions",
        {
            "messages": [
                {"role": "developer", "content": "be terse"},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "c1", "function": {"name": "fetch", "arguments": '{"url":"u"}'}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "page text"},
                {"role": "function", "name": "old", "content": "legacy result"},
                {"role": "assistant", "content": ""},
            ],
            "tools": [TOOL],
        },
        [
            ("developer", "system", "be terse"),
            ("user", "message", "a\nb"),
            ("assistant", "message", ""),
            ("assistant", "tool_call", '{"url":"u"}'),
            ("tool", "tool_result", "page text"),
            ("tool", "tool_result", "legacy result"),
            ("assistant", "message", ""),
            ("tool", "tool_definition", "Fetch a web page.\nthe address"),
        ],
    ),
    "openai responses items": (
        "openai",
        "/v1/responses",
        {
            "instructions": "sys",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "q"}]},
                {"type": "function_call", "call_id": "c1", "name": "fetch", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "result"},
            ],
        },
        [
            ("system", "system", "sys"),
            ("user", "message", "q"),
            ("assistant", "tool_call", "{}"),
            ("tool", "tool_result", "result"),
        ],
    ),
    "openai completions and embeddings": (
        "openai",
        "/v1/completions",
        {"prompt": ["one", "two"]},
        [("user", "message", "one\ntwo")],
    ),
    "anthropic blocks": (
        "anthropic",
        "/v1/messages",
        {
            "system": [{"type": "text", "text": "sys"}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "q"}, {"type": "image"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "let me look"}, {"type": "tool_use", "id": "t1", "name": "fetch", "input": {"url": "u"}}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "page"}]},
                        {"type": "text", "text": "and?"},
                        {"type": "document", "source": {"type": "text", "data": "doc body"}},
                    ],
                },
                {"role": "assistant", "content": ""},
            ],
            "tools": [{"name": "fetch", "description": "Fetch a page.", "input_schema": {"type": "object"}}],
        },
        [
            ("system", "system", "sys"),
            ("user", "message", "q"),
            ("assistant", "tool_call", '{"url":"u"}'),
            ("assistant", "message", "let me look"),
            ("tool", "tool_result", "page"),
            ("tool", "tool_result", "doc body"),
            ("user", "message", "and?"),
            ("assistant", "message", ""),
            ("tool", "tool_definition", "Fetch a page."),
        ],
    ),
    "ollama chat and generate": (
        "ollama",
        "/api/chat",
        {
            "system": "sys",
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
                {"role": "tool", "tool_name": "f", "content": "out"},
            ],
            "prompt": "also this",
        },
        [
            ("system", "system", "sys"),
            ("user", "message", "q"),
            ("assistant", "message", ""),
            ("assistant", "tool_call", '{"a":1}'),
            ("tool", "tool_result", "out"),
            ("user", "message", "also this"),
        ],
    ),
    "passthrough: every string of the body": (
        "passthrough",
        "/v2/agent",
        {"task": {"steps": ["one", {"note": "two"}]}, "n": 3},
        [("user", "body", "one\ntwo")],
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("provider", "path", "body", "parts"), list(CASES.values()), ids=list(CASES)
)
def test_every_text_is_extracted_and_tagged(
    provider: str, path: str, body: dict[str, Any], parts: list[tuple[str, str | None, str]]
) -> None:
    assert _tagged(provider, path, body) == parts


@pytest.mark.parametrize("provider", ["openai", "anthropic", "ollama", "passthrough"])
@pytest.mark.parametrize(
    "body",
    [None, [], "text", {"messages": "x"}, {"messages": [None, 3, {"content": {"x": 1}}]},
     {"tools": [None, {"function": 3}]}, {"input": [1, None]}],
)  # fmt: skip
def test_odd_shapes_never_raise(provider: str, body: object) -> None:
    extract(provider, "/v1/chat/completions", body)


def test_facts() -> None:
    _, f = extract(
        "openai", "/v1/chat/completions", {"model": "m", "stream": True, "tools": [TOOL]}
    )
    assert (f.model, f.stream, f.tools) == ("m", True, ("fetch",))
    _, f = extract("ollama", "/api/generate", {"model": "l", "options": {"num_predict": 5}})
    assert (f.stream, f.max_tokens) == (True, 5)  # Ollama streams unless told not to


def test_a_deep_body_is_walked_to_a_bound() -> None:
    deep: object = "needle"
    for _ in range(10_000):
        deep = [deep]
    assert _tagged("passthrough", "/x", deep) == []  # no recursion error, bounded depth


def test_every_dialect_implements_the_protocol() -> None:
    names = set()
    for d in (*DIALECTS, PASSTHROUGH):
        assert isinstance(d, dialects.Dialect)
        names.add(d.name)
        body = orjson.loads(dialects.error_payload(d.name, "t", "msg", {"rule_id": "R"}))
        assert "msg" in orjson.dumps(body).decode() and "R" in orjson.dumps(body).decode()
        assert d.credentials("k")
    assert names == {"openai", "anthropic", "ollama", "passthrough"}
