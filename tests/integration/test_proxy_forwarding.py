"""Byte-exact forwarding and the events it puts on Kafka, per provider, stream and not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas.events import LLMRequest, LLMResponse, StreamWindow
from schemas.settings import KafkaSettings
from tests.support.proxy_harness import collect, for_request, make_settings, running_proxy

REPLY = "alpha beta gamma delta epsilon"
TOOL_PROMPT = 'call it fake-tool:get_weather {"city":"Paris"}'
OPENAI_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
ANTHROPIC_TOOLS = [{"name": "get_weather", "input_schema": {"type": "object"}}]

CASES: list[tuple[str, str, dict[str, Any], bool]] = [
    # (id, path, body, tool call expected)
    ("openai", "/v1/chat/completions", {"model": "gpt-4o", "stream": False}, False),
    (
        "openai-stream",
        "/v1/chat/completions",
        {"model": "gpt-4o", "stream": True, "stream_options": {"include_usage": True}},
        False,
    ),
    (
        "openai-tool-stream",
        "/v1/chat/completions",
        {
            "model": "gpt-4o",
            "stream": True,
            "stream_options": {"include_usage": True},
            "tools": OPENAI_TOOLS,
        },
        True,
    ),
    ("anthropic", "/anthropic/v1/messages", {"model": "claude-3-5", "max_tokens": 50}, False),
    (
        "anthropic-stream",
        "/anthropic/v1/messages",
        {"model": "claude-3-5", "max_tokens": 50, "stream": True},
        False,
    ),
    (
        "anthropic-tool",
        "/anthropic/v1/messages",
        {"model": "claude-3-5", "max_tokens": 50, "tools": ANTHROPIC_TOOLS},
        True,
    ),
    ("ollama", "/api/chat", {"model": "llama3", "stream": False}, False),
    ("ollama-stream", "/api/chat", {"model": "llama3"}, False),
]


@pytest.mark.parametrize(("case", "path", "body", "tool"), CASES, ids=[c[0] for c in CASES])
async def test_bytes_and_events(
    case: str,
    path: str,
    body: dict[str, Any],
    tool: bool,
    kafka_settings: KafkaSettings,
    fake_backend_url: str,
    tmp_path: Path,
) -> None:
    settings = make_settings(kafka_settings, fake_backend_url, tmp_path / "spool")
    prompt = TOOL_PROMPT if tool else "say something"
    body = {**body, "messages": [{"role": "user", "content": prompt}]}
    headers = {"x-session-id": f"sess-{case}", "authorization": "Bearer sk-secret-123"}
    if not tool:
        headers["x-fake-reply"] = REPLY
    async with running_proxy(settings) as proxy, httpx.AsyncClient() as client:
        resp = await client.post(proxy.url + path, json=body, headers=headers)
        assert resp.status_code == 200, resp.text
        assert resp.content == bytes(proxy.recorder.bodies[-1])
        request_id = resp.headers["x-modeltrail-request-id"]

    topics = settings.kafka.topics
    events = await collect(
        settings.kafka,
        [topics.requests, topics.responses, topics.stream_windows],
        lambda evs: any(isinstance(e, LLMResponse) for e in for_request(evs, request_id)),
    )
    mine = for_request(events, request_id)
    req = next(e for e in mine if isinstance(e, LLMRequest))
    res = next(e for e in mine if isinstance(e, LLMResponse))
    assert req.session_id == res.session_id == f"sess-{case}"
    assert req.model == body["model"] and res.model == body["model"]
    assert req.messages[-1].content == prompt
    assert "sk-secret-123" not in json.dumps(req.model_dump(mode="json"))
    assert req.api_key_fingerprint and req.api_key_fingerprint.startswith("fp_")
    assert res.outcome == "ok" and res.status_code == 200
    assert res.input_tokens and res.output_tokens and res.input_tokens > 0
    if tool:
        assert [c.name for c in res.tool_calls] == ["get_weather"]
        assert json.loads(res.tool_calls[0].arguments) == {"city": "Paris"}
        assert req.tools == ["get_weather"]
    else:
        assert res.text == REPLY
        assert res.output_tokens == len(REPLY.split())
    if res.stream and not tool:
        windows = [e for e in mine if isinstance(e, StreamWindow)]
        assert windows and windows[-1].text.endswith("epsilon")
