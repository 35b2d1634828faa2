"""The forwarding app in-process: httpx.ASGITransport inbound, httpx.MockTransport upstream.

The app, routing, capture, relay and kill enforcement are real; only the two
network edges are in-process (an event list instead of Kafka, a scripted backend).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from proxy.app import ProxyApp, create_app
from proxy.forward import Forwarder
from proxy.settings import BackendConfig, ProxySettings
from schemas.events import (
    EventEnvelope,
    LLMRequest,
    LLMResponse,
    SessionCommand,
    StreamWindow,
)
from schemas.ids import SESSION_ID_PATTERN
from tests.support.proxy_fakes import ListPublisher


class KillAfter:
    """Blocks a session once `check` has been called `n` times for it."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls = 0
        self.observed: list[EventEnvelope] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def check(self, session_id: str, now: datetime | None = None) -> SessionCommand | None:
        self.calls += 1
        if self.calls <= self.n:
            return None
        return SessionCommand(
            source="t", session_id=session_id, command="kill", block_mode="permanent",
            reason="secret leaked", rule_id="SEC-001", issuer="test", decision_id="d1",
        )  # fmt: skip

    def observe_request(self, event: LLMRequest) -> None:
        self.observed.append(event)

    def observe_response(self, event: LLMResponse) -> None:
        self.observed.append(event)


Handler = Callable[[httpx.Request], Any]


def _app(
    handler: Handler, *, kill_after: int = 10**9, **settings: Any
) -> tuple[ProxyApp, ListPublisher, KillAfter]:
    cfg = ProxySettings(
        client_auth="none",
        backends=[
            BackendConfig(name="oai", url="http://up.example/base", models=["gpt-*"]),
            BackendConfig(
                name="ant",
                url="http://ant.example",
                provider="anthropic",
                models=["claude-*"],
                api_key=SecretStr("sk-ant-server"),
            ),
        ],
        default_backend="oai",
        stream_window_chars=8,
        stream_window_overlap=2,
        **settings,
    )
    pub, enf = ListPublisher(), KillAfter(kill_after)
    fwd = Forwarder(timeout_s=5, connect_timeout_s=1, transport=httpx.MockTransport(handler))
    return create_app(cfg, enforcement=enf, publisher=pub, forwarder=fwd), pub, enf


async def _client(app: ProxyApp) -> httpx.AsyncClient:
    await app.startup()
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proxy")


CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
ANSWER = {"choices": [{"message": {"content": "yo"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 1, "completion_tokens": 1}}  # fmt: skip


async def test_forward_headers_and_events() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=ANSWER, headers={"x-upstream": "1", "connection": "close"})

    app, pub, enf = _app(handler)
    async with await _client(app) as client:
        resp = await client.post(
            "/v1/chat/completions?x=1",
            json=CHAT,
            headers={
                "authorization": "Bearer sk-client",
                "x-backend": "oai",
                "accept-encoding": "gzip",
            },
        )
    await app.shutdown()
    assert resp.status_code == 200 and resp.json() == ANSWER
    assert resp.headers["x-upstream"] == "1" and "connection" not in resp.headers
    (up,) = seen
    assert str(up.url) == "http://up.example/base/v1/chat/completions?x=1"
    assert up.headers["authorization"] == "Bearer sk-client"  # no injection for this backend
    assert "x-backend" not in up.headers and up.headers["accept-encoding"] == "identity"
    (req,) = pub.of(LLMRequest)
    (res,) = pub.of(LLMResponse)
    assert req.request_id == res.request_id == resp.headers["x-modeltrail-request-id"]
    assert res.text == "yo" and res.outcome == "ok" and res.ttfb_ms is not None
    assert enf.observed == [req, res]


@pytest.mark.parametrize(
    ("sent", "upstream"),
    [
        ([], "127.0.0.1"),
        ([("x-forwarded-for", "203.0.113.7")], "203.0.113.7, 127.0.0.1"),
        (
            [("x-forwarded-for", "203.0.113.7, 10.0.0.2"), ("x-forwarded-for", "10.0.0.3")],
            "203.0.113.7, 10.0.0.2, 10.0.0.3, 127.0.0.1",
        ),
    ],
)
async def test_forwarded_for_gets_the_peer_appended(
    sent: list[tuple[str, str]], upstream: str
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=ANSWER)

    app, pub, _ = _app(handler)
    async with await _client(app) as client:  # ASGITransport's peer is 127.0.0.1
        resp = await client.post("/v1/chat/completions", json=CHAT, headers=sent)
    assert resp.status_code == 200
    assert seen[0].headers.get_list("x-forwarded-for") == [upstream]
    # No trusted proxies configured: the identity still uses the peer, not the header.
    (req,) = pub.of(LLMRequest)
    assert req.client_ip == "127.0.0.1"


async def test_forwarded_for_from_a_trusted_proxy_sets_the_client_ip() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=ANSWER)

    app, pub, _ = _app(handler, trusted_proxies=["127.0.0.0/8"])
    headers = {"x-forwarded-for": "203.0.113.7, 127.0.0.5"}
    async with await _client(app) as client:
        await client.post("/v1/chat/completions", json=CHAT, headers=headers)
    assert seen[0].headers["x-forwarded-for"] == "203.0.113.7, 127.0.0.5, 127.0.0.1"
    (req,) = pub.of(LLMRequest)
    assert req.client_ip == "203.0.113.7"


async def test_injected_key_replaces_the_clients() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"content": [], "usage": {}})

    app, pub, _ = _app(handler)
    body = {"model": "claude-3", "max_tokens": 5, "messages": []}
    async with await _client(app) as client:
        await client.post("/v1/messages", json=body, headers={"x-api-key": "sk-client-key"})
    assert seen[0].headers["x-api-key"] == "sk-ant-server"
    assert "sk-client-key" not in str(seen[0].headers.raw)
    assert (
        "sk-client-key"
        not in orjson.dumps([e.model_dump(mode="json") for e in pub.events]).decode()
    )


async def test_killed_session_gets_403_and_nothing_is_forwarded() -> None:
    calls: list[httpx.Request] = []
    app, pub, _ = _app(lambda r: calls.append(r) or httpx.Response(200), kill_after=0)
    async with await _client(app) as client:
        resp = await client.post("/v1/chat/completions", json=CHAT, headers={"x-session-id": "bad"})
    assert resp.status_code == 403 and not calls
    err = resp.json()["error"]
    assert err["type"] == "session_killed" and err["rule_id"] == "SEC-001"
    assert err["reason"] == "secret leaked" and err["session_id"] == "bad"
    (res,) = pub.of(LLMResponse)
    assert (res.outcome, res.status_code, res.session_id) == ("killed", 403, "bad")
    assert len(pub.of(LLMRequest)) == 1  # the attempt itself is audited


def _sse_backend(parts: list[str]) -> Handler:
    async def body() -> AsyncIterator[bytes]:
        for p in parts:
            yield b"data: " + orjson.dumps({"choices": [{"delta": {"content": p}}]}) + b"\n\n"
        yield b"data: [DONE]\n\n"

    return lambda r: httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content=body()
    )


async def test_kill_cuts_a_running_stream_with_an_sse_error() -> None:
    # check #1 before forwarding, #2 and #3 let two chunks through, #4 cuts.
    app, pub, _ = _app(_sse_backend(["one ", "two ", "three ", "four "]), kill_after=3)
    async with await _client(app) as client:
        resp = await client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    chunks = resp.content.split(b"\n\n")
    assert b'"one "' in chunks[0] and b'"two "' in chunks[1]
    assert b"three" not in resp.content
    assert orjson.loads(chunks[2][6:])["error"]["type"] == "session_killed"
    (res,) = pub.of(LLMResponse)
    assert res.outcome == "killed" and res.text == "one two " and res.status_code == 200


def _ollama_backend(parts: list[str], content_type: str | None) -> Handler:
    async def body() -> AsyncIterator[bytes]:
        for p in parts:
            msg = {"model": "llama3", "message": {"role": "assistant", "content": p}}
            yield orjson.dumps({**msg, "done": False}) + b"\n"
        yield orjson.dumps({"model": "llama3", "done": True}) + b"\n"

    headers = {"content-type": content_type} if content_type else {}
    return lambda r: httpx.Response(200, headers=headers, content=body())


# Ollama declares application/x-ndjson; some versions and look-alikes send JSON or nothing.
@pytest.mark.parametrize("content_type", ["application/x-ndjson", "application/json", None])
async def test_kill_cuts_an_ollama_stream_with_an_ndjson_error_line(
    content_type: str | None,
) -> None:
    backend = _ollama_backend(["one ", "two ", "three ", "four "], content_type)
    app, pub, _ = _app(backend, kill_after=3)
    async with await _client(app) as client:
        resp = await client.post("/api/chat", json={"model": "llama3", "messages": []})
    lines = resp.content.splitlines()
    assert [orjson.loads(x)["message"]["content"] for x in lines[:2]] == ["one ", "two "]
    assert b"three" not in resp.content and len(lines) == 3
    last = orjson.loads(lines[2])
    assert last["error"] == "session blocked: secret leaked"  # Ollama's {"error": "..."}
    assert (last["type"], last["rule_id"]) == ("session_killed", "SEC-001")
    (res,) = pub.of(LLMResponse)
    assert res.outcome == "killed" and res.text == "one two " and res.status_code == 200


async def test_stream_windows_are_emitted_while_streaming() -> None:
    app, pub, _ = _app(_sse_backend(["abcdef", "ghijkl", "mnop"]))
    async with await _client(app) as client:
        resp = await client.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert resp.status_code == 200
    windows = pub.of(StreamWindow)
    assert [w.text for w in windows] == ["abcdefgh", "ghijklmn", "mnop"]
    assert [w.offset_chars for w in windows] == [0, 6, 12]
    (res,) = pub.of(LLMResponse)
    assert res.text == "abcdefghijklmnop" and res.stream is True
    assert all(w.request_id == res.request_id for w in windows)


async def test_fail_closed_answers_503() -> None:
    app, pub, _ = _app(lambda r: httpx.Response(200, json=ANSWER))
    pub.up = False
    async with await _client(app) as client:
        resp = await client.post("/v1/messages", json={"model": "claude-3", "messages": []})
    assert resp.status_code == 503
    assert resp.json() == {
        "type": "error",
        "error": {"type": "audit_unavailable", "message": resp.json()["error"]["message"]},
    }
    assert pub.of(LLMResponse)[0].outcome == "blocked"


@pytest.mark.parametrize(
    ("exc", "status", "outcome"),
    [
        (httpx.ConnectError("refused"), 502, "unreachable"),
        (httpx.ReadTimeout("slow"), 504, "timeout"),
    ],
)
async def test_upstream_failures(exc: Exception, status: int, outcome: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    app, pub, _ = _app(handler)
    async with await _client(app) as client:
        resp = await client.post("/v1/chat/completions", json=CHAT)
    assert resp.status_code == status and "error" in resp.json()
    assert pub.of(LLMResponse)[0].outcome == outcome


async def test_passthrough_is_not_parsed_and_keeps_bytes() -> None:
    raw = b"\x00\x01 not json at all"
    app, pub, _ = _app(lambda r: httpx.Response(201, content=r.content[::-1]))
    async with await _client(app) as client:
        resp = await client.put("/v1/files/abc", content=raw)
    assert resp.status_code == 201 and resp.content == raw[::-1]
    (req,) = pub.of(LLMRequest)
    assert req.provider == "passthrough" and req.body_bytes == len(raw)


async def test_chunked_body_over_the_limit_is_413() -> None:
    app, pub, _ = _app(lambda r: httpx.Response(200), max_body_bytes=100)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 20

    async with await _client(app) as client:
        resp = await client.post("/v1/chat/completions", content=body())
    assert resp.status_code == 413
    assert pub.of(LLMResponse)[0].outcome == "rejected"


async def test_the_canonical_path_goes_upstream_escaped_once() -> None:
    # Issue 9: what is judged is what is forwarded. The path is decoded once (as the
    # backend would), then sent escaped so that the backend's one decoding gives it back;
    # the query string is the client's, unchanged.
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    app, _, _ = _app(handler)
    async with await _client(app) as client:
        await client.get("/v1/files/a%2Fb%20c?q=%2F")
    assert seen[0].url.raw_path == b"/base/v1/files/a/b%20c?q=%2F"


async def test_head_keeps_the_backends_length() -> None:
    app, _, _ = _app(lambda r: httpx.Response(200, headers={"content-length": "1234"}))
    async with await _client(app) as client:
        resp = await client.head("/v1/models")
    assert resp.status_code == 200 and resp.headers["content-length"] == "1234"


@pytest.mark.parametrize(
    "user",
    ["alice\r\nx-evil: 1", "a/b", "x" * 500, "Alice Smith", "\u00e9l\u00e8ve", "team/../admin"],
)
async def test_unsafe_body_user_becomes_a_stable_safe_session(user: str) -> None:
    app, pub, _ = _app(lambda r: httpx.Response(200, json=ANSWER))
    async with await _client(app) as client:
        first = await client.post("/v1/chat/completions", json={**CHAT, "user": user})
        again = await client.post("/v1/chat/completions", json={**CHAT, "user": user})
    await app.shutdown()
    assert first.status_code == again.status_code == 200
    session = first.headers["x-modeltrail-session-id"]
    assert session == again.headers["x-modeltrail-session-id"]
    assert re.fullmatch(SESSION_ID_PATTERN, session) and session.startswith("u-")
    # The response event is not lost and carries the same id.
    assert [e.session_id for e in pub.of(LLMResponse)] == [session, session]


@pytest.mark.parametrize("header", ["a/b", "x" * 129, "a b", "s\r\n", "\u00e9"])
async def test_unsafe_session_header_is_refused_with_a_json_error(header: str) -> None:
    app, pub, _ = _app(lambda r: httpx.Response(200, json=ANSWER))
    async with await _client(app) as client:
        resp = await client.post(
            "/v1/chat/completions",
            json=CHAT,
            headers=[(b"x-session-id", header.encode("utf-8"))],
        )
    await app.shutdown()
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error"
    assert "x-session-id" in resp.json()["error"]["message"]
    assert all(e.session_id == "-" for e in pub.events)


async def test_valid_ids_pass_unchanged() -> None:
    app, _, _ = _app(lambda r: httpx.Response(200, json=ANSWER))
    async with await _client(app) as client:
        for sid in ("agent-7", "team:alice@example.com", "fp-abc.1_2+3=4"):
            resp = await client.post(
                "/v1/chat/completions", json=CHAT, headers={"x-session-id": sid}
            )
            assert resp.headers["x-modeltrail-session-id"] == sid
    await app.shutdown()
