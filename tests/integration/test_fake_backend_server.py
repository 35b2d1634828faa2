"""The fake backend as a real uvicorn process: streaming, faults and recording over HTTP."""

from __future__ import annotations

import json
import time

import httpx
import pytest


async def test_streamed_chat_completion_over_http(fake_backend_url: str) -> None:
    body = {
        "model": "gpt-4o-mini",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "hello"}],
    }
    headers = {"X-Fake-Reply": "streamed over real http", "X-Fake-Chunk-Delay-Ms": "20"}
    arrivals: list[float] = []
    lines: list[str] = []
    async with httpx.AsyncClient(base_url=fake_backend_url, timeout=10) as client:
        async with client.stream(
            "POST", "/v1/chat/completions", json=body, headers=headers
        ) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            async for line in resp.aiter_lines():
                if line.startswith("data: "):
                    arrivals.append(time.perf_counter())
                    lines.append(line[len("data: ") :])
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "streamed over real http"
    assert chunks[-1]["usage"]["completion_tokens"] == 4
    # Chunks arrive one by one, not buffered into a single write.
    assert arrivals[-1] - arrivals[0] >= 0.1


async def test_faults_and_recording_over_http(fake_backend_url: str) -> None:
    chat = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    async with httpx.AsyncClient(base_url=fake_backend_url, timeout=10) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/v1/chat/completions", json=chat, headers={"X-Fake-Drop": "1"})
        with pytest.raises(httpx.ReadTimeout):
            await client.post(
                "/v1/messages", json=chat, headers={"X-Fake-Timeout": "1"}, timeout=0.3
            )
        await client.post(
            "/base/v1/chat/completions",
            json={**chat, "stream": False},
            headers={"Authorization": "Bearer sk-injected"},
        )
        last = (await client.get("/_fake/last")).json()
    assert last["path"] == "/base/v1/chat/completions"
    assert last["headers"]["authorization"] == "Bearer sk-injected"
    assert last["body"]["messages"][0]["content"] == "x"
