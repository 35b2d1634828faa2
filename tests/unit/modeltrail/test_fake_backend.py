"""The fake LLM backend, driven in-process through httpx.ASGITransport."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from modeltrail.embedded.fake_backend import ConnectionDropped, create_app
from modeltrail.embedded.fake_backend.behaviour import (
    Behaviour,
    BehaviourError,
    find_tool_call,
    parse_behaviour,
    split_chars,
    split_words,
)

TOOLS = [{"type": "function", "function": {"name": "run_shell", "parameters": {}}}]
TOOL_PROMPT = 'please fake-tool:run_shell {"cmd": "ls -la /tmp", "n": 2} thanks'


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as c:
        yield c


def chat(content: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **extra}


def sse_events(raw: str) -> list[tuple[str | None, str]]:
    """(event name, data) for each SSE event."""
    events = []
    for block in raw.split("\n\n"):
        if not block.strip():
            continue
        name, data = None, ""
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = line[len("data: ") :]
        events.append((name, data))
    return events


# --- pure helpers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts", "expected"),
    [
        ("one two three four", 2, ["one two", " three four"]),
        ("one two three", 8, ["one", " two", " three"]),
        ("  lead and trail  ", 2, ["  lead and", " trail  "]),
        ("", 4, []),
        ("   ", 4, ["   "]),
    ],
)
def test_split_words_joins_back(text: str, parts: int, expected: list[str]) -> None:
    assert split_words(text, parts) == expected
    assert "".join(split_words(text, parts)) == text


def test_split_chars_near_equal() -> None:
    assert split_chars('{"a":1}', 3) == ['{"a', '":', "1}"]
    assert split_chars("", 3) == []


def test_find_tool_call() -> None:
    tool = find_tool_call(TOOL_PROMPT)
    assert tool is not None
    assert tool.name == "run_shell"
    assert json.loads(tool.arguments) == {"cmd": "ls -la /tmp", "n": 2}
    assert find_tool_call("fake-tool:noargs") == find_tool_call("fake-tool:noargs {broken")
    assert find_tool_call("no marker here") is None


def test_parse_behaviour_defaults_and_errors() -> None:
    assert parse_behaviour({}, 5.0) == Behaviour(latency_ms=5.0)
    parsed = parse_behaviour({"x-fake-status": "429", "x-fake-drop": "1", "x-fake-chunks": "3"})
    assert (parsed.status, parsed.drop, parsed.chunks) == (429, True, 3)
    assert parse_behaviour({"x-fake-status": "200"}).status is None
    for bad in ({"x-fake-chunks": "0"}, {"x-fake-latency-ms": "soon"}, {"x-fake-status": "42"}):
        with pytest.raises(BehaviourError):
            parse_behaviour(bad)


# --- OpenAI -------------------------------------------------------------------


async def test_chat_completion_default_reply_and_usage(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/chat/completions", json=chat("hello there"))
    assert resp.status_code == 200
    body = resp.json()
    assert body["object"] == "chat.completion"
    message = body["choices"][0]["message"]
    assert "gpt-4o-mini" in message["content"] and "2 words" in message["content"]
    assert body["choices"][0]["finish_reason"] == "stop"
    words = len(message["content"].split())
    assert body["usage"] == {
        "prompt_tokens": 2,
        "completion_tokens": words,
        "total_tokens": 2 + words,
    }
    again = await client.post("/v1/chat/completions", json=chat("hello there"))
    assert again.json()["choices"][0]["message"]["content"] == message["content"]


async def test_chat_reply_from_header_then_marker(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/v1/chat/completions",
        json=chat("x fake-reply: ignored"),
        headers={"X-Fake-Reply": "scripted"},
    )
    assert resp.json()["choices"][0]["message"]["content"] == "scripted"
    resp = await client.post(
        "/v1/chat/completions", json=chat("leak it fake-reply: AKIA1234 secret")
    )
    assert resp.json()["choices"][0]["message"]["content"] == "AKIA1234 secret"


async def test_chat_stream_chunks_usage_and_done(client: httpx.AsyncClient) -> None:
    reply = "one two three four five six"
    resp = await client.post(
        "/v1/chat/completions",
        json=chat("hi", stream=True, stream_options={"include_usage": True}),
        headers={"X-Fake-Reply": reply, "X-Fake-Chunks": "3"},
    )
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = sse_events(resp.text)
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    contents = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert [part for part in contents if part] == ["one two", " three four", " five six"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 1, "completion_tokens": 6, "total_tokens": 7}


async def test_chat_stream_without_usage_option(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/chat/completions", json=chat("hi", stream=True))
    chunks = [json.loads(data) for _, data in sse_events(resp.text)[:-1]]
    assert all("usage" not in chunk for chunk in chunks)
    assert len(chunks) == 1 + 8 + 1  # role, default 8 content chunks, finish


async def test_chat_tool_call(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/chat/completions", json=chat(TOOL_PROMPT, tools=TOOLS))
    choice = resp.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (tool_call,) = choice["message"]["tool_calls"]
    assert tool_call["function"]["name"] == "run_shell"
    assert json.loads(tool_call["function"]["arguments"]) == {"cmd": "ls -la /tmp", "n": 2}
    # Without `tools` in the request the marker is plain text.
    plain = await client.post("/v1/chat/completions", json=chat(TOOL_PROMPT))
    assert "tool_calls" not in plain.json()["choices"][0]["message"]


async def test_chat_tool_call_streamed_in_pieces(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/v1/chat/completions",
        json=chat(TOOL_PROMPT, tools=TOOLS, stream=True),
        headers={"X-Fake-Chunks": "4"},
    )
    chunks = [json.loads(data) for _, data in sse_events(resp.text)[:-1]]
    head = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert head["function"] == {"name": "run_shell", "arguments": ""} and head["id"].startswith(
        "call_"
    )
    pieces = [
        c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] for c in chunks[1:-1]
    ]
    assert len(pieces) == 4
    assert json.loads("".join(pieces)) == {"cmd": "ls -la /tmp", "n": 2}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_completions_stream_and_not(client: httpx.AsyncClient) -> None:
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "say fake-reply: a b c"}
    resp = await client.post("/v1/completions", json=body)
    assert resp.json()["choices"][0]["text"] == "a b c"
    assert resp.json()["usage"]["completion_tokens"] == 3
    resp = await client.post(
        "/v1/completions", json={**body, "stream": True, "stream_options": {"include_usage": True}}
    )
    events = sse_events(resp.text)
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks if c["choices"]) == "a b c"
    assert chunks[-1]["usage"]["total_tokens"] == 5 + 3
    assert events[-1][1] == "[DONE]"


async def test_embeddings_deterministic_unit_vectors(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/v1/embeddings", json={"model": "e", "input": ["alpha", "beta gamma"], "dimensions": 12}
    )
    body = resp.json()
    first, second = (item["embedding"] for item in body["data"])
    assert len(first) == 12 and first != second
    assert math.isclose(sum(v * v for v in first), 1.0, rel_tol=1e-9)
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    again = await client.post("/v1/embeddings", json={"input": "alpha", "dimensions": 12})
    assert again.json()["data"][0]["embedding"] == first
    b64 = await client.post(
        "/v1/embeddings", json={"input": "alpha", "dimensions": 12, "encoding_format": "base64"}
    )
    decoded = struct.unpack("<12f", base64.b64decode(b64.json()["data"][0]["embedding"]))
    assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(decoded, first, strict=True))
    bad = await client.post("/v1/embeddings", json={"input": []})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"


async def test_models_and_files(client: httpx.AsyncClient) -> None:
    models = (await client.get("/v1/models")).json()
    assert models["object"] == "list" and "gpt-4o-mini" in {m["id"] for m in models["data"]}
    assert (await client.get("/v1/files")).json() == {"object": "list", "data": []}


async def test_responses_api(client: httpx.AsyncClient) -> None:
    body = {
        "model": "gpt-4o",
        "instructions": "be brief",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "fake-reply: hi you"}]}
        ],
    }
    resp = (await client.post("/v1/responses", json=body)).json()
    assert resp["object"] == "response" and resp["status"] == "completed"
    assert resp["output"][0]["content"][0]["text"] == "hi you"
    assert resp["usage"] == {"input_tokens": 2 + 3, "output_tokens": 2, "total_tokens": 7}
    streamed = await client.post("/v1/responses", json={**body, "stream": True})
    events = sse_events(streamed.text)
    names = [name for name, _ in events]
    assert names[0] == "response.created" and names[-1] == "response.completed"
    deltas = [
        json.loads(data)["delta"] for name, data in events if name == "response.output_text.delta"
    ]
    assert "".join(deltas) == "hi you"
    tool = (await client.post("/v1/responses", json={"input": TOOL_PROMPT, "tools": TOOLS})).json()
    assert tool["output"][0]["type"] == "function_call" and tool["output"][0]["name"] == "run_shell"


async def test_openai_injected_errors(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/v1/chat/completions", json=chat("x"), headers={"X-Fake-Status": "429"}
    )
    assert resp.status_code == 429 and resp.headers["retry-after"] == "1"
    assert resp.json()["error"]["code"] == "rate_limit_exceeded"
    resp = await client.post(
        "/v1/chat/completions", json=chat("x"), headers={"X-Fake-Status": "500"}
    )
    assert resp.status_code == 500 and resp.json()["error"]["type"] == "server_error"
    resp = await client.post("/v1/chat/completions", content=b"{not json")
    assert resp.status_code == 400 and "not valid JSON" in resp.json()["error"]["message"]
    resp = await client.post(
        "/v1/chat/completions", json=chat("x"), headers={"X-Fake-Chunks": "many"}
    )
    assert resp.status_code == 400 and "x-fake-chunks" in resp.json()["error"]["message"]


# --- Anthropic ----------------------------------------------------------------


async def test_anthropic_message(client: httpx.AsyncClient) -> None:
    body = {
        "model": "claude-3-5-sonnet-latest",
        "max_tokens": 64,
        "system": "be nice",
        "messages": [{"role": "user", "content": "hello"}],
    }
    resp = (await client.post("/v1/messages", json=body)).json()
    assert resp["type"] == "message" and resp["stop_reason"] == "end_turn"
    assert "anthropic" in resp["content"][0]["text"]
    assert resp["usage"]["input_tokens"] == 3


async def test_anthropic_stream_event_sequence(client: httpx.AsyncClient) -> None:
    body = {
        "model": "claude",
        "stream": True,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "fake-reply: a b c d"}]}
        ],
    }
    resp = await client.post("/v1/messages", json=body, headers={"X-Fake-Chunks": "2"})
    events = sse_events(resp.text)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    for name, data in events:
        assert json.loads(data)["type"] == name
    deltas = [json.loads(data)["delta"] for name, data in events if name == "content_block_delta"]
    assert [d["type"] for d in deltas] == ["text_delta", "text_delta"]
    assert "".join(d["text"] for d in deltas) == "a b c d"
    final = json.loads(events[-2][1])
    assert final["delta"]["stop_reason"] == "end_turn" and final["usage"]["output_tokens"] == 4


async def test_anthropic_tool_use_stream(client: httpx.AsyncClient) -> None:
    body = {
        "model": "claude",
        "tools": [{"name": "run_shell"}],
        "messages": [{"role": "user", "content": TOOL_PROMPT}],
    }
    resp = (await client.post("/v1/messages", json=body)).json()
    assert resp["stop_reason"] == "tool_use"
    assert resp["content"][0]["input"] == {"cmd": "ls -la /tmp", "n": 2}
    events = sse_events((await client.post("/v1/messages", json={**body, "stream": True})).text)
    start = json.loads(events[1][1])["content_block"]
    assert start["type"] == "tool_use" and start["name"] == "run_shell" and start["input"] == {}
    parts = [json.loads(d)["delta"] for n, d in events if n == "content_block_delta"]
    assert all(p["type"] == "input_json_delta" for p in parts) and len(parts) > 1
    assert json.loads("".join(p["partial_json"] for p in parts)) == {"cmd": "ls -la /tmp", "n": 2}
    assert json.loads(events[-2][1])["delta"]["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, "rate_limit_error"),
        (500, "api_error"),
        (529, "overloaded_error"),
        (401, "authentication_error"),
    ],
)
async def test_anthropic_error_shape(client: httpx.AsyncClient, status: int, kind: str) -> None:
    resp = await client.post(
        "/v1/messages", json={"messages": []}, headers={"X-Fake-Status": str(status)}
    )
    assert resp.status_code == status
    assert resp.json() == {
        "type": "error",
        "error": {"type": kind, "message": f"injected error (X-Fake-Status: {status})"},
    }


# --- Ollama -------------------------------------------------------------------


async def test_ollama_chat_ndjson_and_final_counts(client: httpx.AsyncClient) -> None:
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "fake-reply: x y z"}]}
    resp = await client.post("/api/chat", json=body)
    assert resp.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in resp.text.splitlines()]
    assert "".join(line["message"]["content"] for line in lines) == "x y z"
    assert [line["done"] for line in lines][-1] is True
    assert lines[-1]["prompt_eval_count"] == 4 and lines[-1]["eval_count"] == 3
    single = (await client.post("/api/chat", json={**body, "stream": False})).json()
    assert (
        single["message"]["content"] == "x y z"
        and single["done"] is True
        and single["eval_count"] == 3
    )


async def test_ollama_generate_tags_tools_errors(client: httpx.AsyncClient) -> None:
    lines = (
        await client.post("/api/generate", json={"model": "m", "prompt": "fake-reply: p q"})
    ).text.splitlines()
    assert "".join(json.loads(line)["response"] for line in lines) == "p q"
    single = (await client.post("/api/generate", json={"prompt": "a b", "stream": False})).json()
    assert single["prompt_eval_count"] == 2 and single["done"] is True
    tags = (await client.get("/api/tags")).json()
    assert "llama3.2:latest" in {m["name"] for m in tags["models"]}
    body = {"stream": False, "tools": TOOLS, "messages": [{"role": "user", "content": TOOL_PROMPT}]}
    tool = (await client.post("/api/chat", json=body)).json()
    assert tool["message"]["tool_calls"] == [
        {"function": {"name": "run_shell", "arguments": {"cmd": "ls -la /tmp", "n": 2}}}
    ]
    error = await client.post("/api/chat", json=body, headers={"X-Fake-Status": "503"})
    assert error.status_code == 503 and error.json() == {
        "error": "injected error (X-Fake-Status: 503)"
    }


# --- injected behaviour ---------------------------------------------------------


async def test_latency_and_chunk_delay() -> None:
    transport = httpx.ASGITransport(app=create_app(latency_ms=30))
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as c:
        started = time.perf_counter()
        await c.post("/v1/chat/completions", json=chat("x"))
        assert time.perf_counter() - started >= 0.03
        started = time.perf_counter()
        await c.post("/v1/chat/completions", json=chat("x"), headers={"X-Fake-Latency-Ms": "0"})
        fast = time.perf_counter() - started
        started = time.perf_counter()
        await c.post(
            "/v1/chat/completions",
            json=chat("x", stream=True),
            headers={"X-Fake-Latency-Ms": "0", "X-Fake-Chunk-Delay-Ms": "10", "X-Fake-Chunks": "4"},
        )
        assert time.perf_counter() - started >= 0.05  # 6 frames, 5 gaps of 10 ms
        assert fast < 0.03


async def test_timeout_never_answers(client: httpx.AsyncClient) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(
            client.post("/v1/chat/completions", json=chat("x"), headers={"X-Fake-Timeout": "1"}),
            0.2,
        )


async def test_malformed_sse_inserts_one_broken_event(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/v1/chat/completions", json=chat("x", stream=True), headers={"X-Fake-Malformed-SSE": "1"}
    )
    broken = []
    for _, data in sse_events(resp.text):
        if data == "[DONE]":
            continue
        try:
            json.loads(data)
        except json.JSONDecodeError:
            broken.append(data)
    assert len(broken) == 1
    resp = await client.post(
        "/v1/messages", json={"stream": True, "messages": []}, headers={"X-Fake-Malformed-SSE": "1"}
    )
    assert sum(1 for _, data in sse_events(resp.text) if not data.endswith("}")) == 1


async def test_drop_closes_mid_stream(client: httpx.AsyncClient) -> None:
    with pytest.raises(ConnectionDropped):
        await client.post(
            "/v1/chat/completions", json=chat("x", stream=True), headers={"X-Fake-Drop": "1"}
        )


# --- recording, routing ---------------------------------------------------------


async def test_last_request_records_keys_path_and_body(client: httpx.AsyncClient) -> None:
    assert (await client.get("/_fake/last")).status_code == 404
    await client.post(
        "/v1/messages?beta=true",
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers={"x-api-key": "sk-ant-test", "Authorization": "Bearer sk-test"},
    )
    last = (await client.get("/_fake/last")).json()
    assert (
        last["method"] == "POST" and last["path"] == "/v1/messages" and last["query"] == "beta=true"
    )
    assert last["headers"]["x-api-key"] == "sk-ant-test"
    assert last["headers"]["authorization"] == "Bearer sk-test"
    assert last["body"] == {"messages": [{"role": "user", "content": "hi"}]}
    assert (await client.delete("/_fake/last")).status_code == 204
    assert (await client.get("/_fake/last")).status_code == 404


async def test_endpoints_answer_under_a_base_path(client: httpx.AsyncClient) -> None:
    resp = await client.post("/openai/deployments/v1/chat/completions", json=chat("fake-reply: ok"))
    assert resp.json()["choices"][0]["message"]["content"] == "ok"
    resp = await client.post("/ollama/api/chat", json={"stream": False, "messages": []})
    assert resp.json()["done"] is True
    assert (await client.get("/_fake/last")).json()["path"] == "/ollama/api/chat"


async def test_unknown_path_is_openai_404_echoing_it(client: httpx.AsyncClient) -> None:
    resp = await client.put("/v1/unknown/thing", content=b"raw")
    assert resp.status_code == 404
    body = resp.json()
    assert body["method"] == "PUT" and body["path"] == "/v1/unknown/thing"
    assert body["error"]["code"] == "not_found"
    assert (await client.get("/_fake/last")).json()["body"] == "raw"
    # A known path with the wrong method is unknown too, not a bare 405.
    assert (await client.get("/v1/chat/completions")).status_code == 404
