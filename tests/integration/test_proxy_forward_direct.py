"""The Forwarder's default path (aiohttp directly, no httpx.Request) against the fake backend."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from modeltrail.embedded.process import free_port
from proxy.errors import UpstreamPoolExhausted, UpstreamTimeout, UpstreamUnreachable
from proxy.forward import Forwarder

CHAT = orjson.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})


async def _read(response: httpx.Response) -> bytes:
    try:
        return b"".join([c async for c in Forwarder.chunks(response)])
    finally:
        await response.aclose()


async def test_forwards_headers_and_body_and_reads_the_answer(fake_backend_url: str) -> None:
    fwd = Forwarder(timeout_s=5, connect_timeout_s=1)
    await fwd.start()
    try:
        headers = [
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-test"),
            ("x-custom", "a"),
            ("x-custom", "b"),
            ("x-fake-reply", "hello from the fake"),
            ("accept-encoding", "identity"),
        ]
        response = await fwd.open("POST", f"{fake_backend_url}/v1/chat/completions", headers, CHAT)
        body = await _read(response)
        assert response.status_code == 200
        assert response.headers["content-length"] == str(len(body))
        answer = orjson.loads(body)
        assert answer["choices"][0]["message"]["content"] == "hello from the fake"

        async with httpx.AsyncClient() as client:
            last = (await client.get(f"{fake_backend_url}/_fake/last")).json()
        assert last["method"] == "POST"
        assert last["path"] == "/v1/chat/completions"
        sent = last["headers"]
        assert sent["content-type"] == "application/json"
        assert sent["accept-encoding"] == "identity"
        assert "user-agent" not in sent  # no client library User-Agent is invented
    finally:
        await fwd.stop()


async def test_streams_an_sse_answer_chunk_by_chunk(fake_backend_url: str) -> None:
    fwd = Forwarder(timeout_s=5, connect_timeout_s=1)
    await fwd.start()
    try:
        body = orjson.dumps({**orjson.loads(CHAT), "stream": True})
        headers = [("content-type", "application/json"), ("x-fake-chunks", "5")]
        response = await fwd.open("POST", f"{fake_backend_url}/v1/chat/completions", headers, body)
        assert "text/event-stream" in response.headers["content-type"]
        raw = await _read(response)
        events = [ln for ln in raw.split(b"\n") if ln.startswith(b"data: ")]
        assert events[-1] == b"data: [DONE]"
        assert len(events) >= 6
    finally:
        await fwd.stop()


async def test_get_without_body(fake_backend_url: str) -> None:
    fwd = Forwarder(timeout_s=5, connect_timeout_s=1)
    await fwd.start()
    try:
        response = await fwd.open("GET", f"{fake_backend_url}/v1/models", [], b"")
        assert response.status_code == 200
        assert orjson.loads(await _read(response))["object"] == "list"
    finally:
        await fwd.stop()


async def test_refused_is_unreachable() -> None:
    fwd = Forwarder(timeout_s=5, connect_timeout_s=1)
    await fwd.start()
    try:
        with pytest.raises(UpstreamUnreachable):
            await fwd.open("POST", f"http://127.0.0.1:{free_port()}/v1/chat/completions", [], CHAT)
    finally:
        await fwd.stop()


async def test_no_answer_is_a_timeout(fake_backend_url: str) -> None:
    fwd = Forwarder(timeout_s=0.5, connect_timeout_s=1)
    await fwd.start()
    try:
        with pytest.raises(UpstreamTimeout):
            await fwd.open("POST", f"{fake_backend_url}/api/chat", [("x-fake-timeout", "1")], b"{}")
    finally:
        await fwd.stop()


async def test_open_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        await Forwarder(timeout_s=1, connect_timeout_s=1).open("GET", "http://x/", [], b"")


async def test_a_full_pool_answers_its_own_error_and_slots_come_back(
    fake_backend_url: str,
) -> None:
    """Waiting for a connection is not a connect timeout: 503 pool exhausted, not 504."""
    fwd = Forwarder(timeout_s=10, connect_timeout_s=0.2, max_connections=2, pool_timeout_s=0.5)
    await fwd.start()
    url = f"{fake_backend_url}/v1/chat/completions"
    slow = [("x-fake-chunks", "20"), ("x-fake-chunk-delay-ms", "100")]
    body = orjson.dumps(
        {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    )
    try:
        held = [await fwd.open("POST", url, slow, body) for _ in range(2)]
        started = asyncio.get_running_loop().time()
        with pytest.raises(UpstreamPoolExhausted) as info:
            await fwd.open("POST", url, [], CHAT)
        waited = asyncio.get_running_loop().time() - started
        assert 0.4 < waited < 2.0  # the pool wait, not the 0.2 s connect timeout
        assert info.value.status == 503 and info.value.error_type == "upstream_pool_exhausted"
        for response in held:
            await response.aclose()
        ok = await fwd.open("POST", url, [], CHAT)  # slots came back on close
        assert ok.status_code == 200
        await _read(ok)
    finally:
        await fwd.stop()
