"""The forwarding app with client keys on: 401/403/429 in each provider's shape, identity
on every event, sessions namespaced by key, the key never forwarded nor recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from proxy.app import ProxyApp, create_app
from proxy.forward import Forwarder
from proxy.keys.counters import MemoryCounters
from proxy.keys.gate import ClientGate
from proxy.keys.limits import LimitGate
from proxy.keys.tokens import key_hash, new_key, new_key_id
from proxy.settings import BackendConfig, ProxySettings
from schemas.codec import encode
from schemas.events import LLMRequest, LLMResponse
from schemas.identity import KeyRecord
from tests.support.proxy_fakes import ListPublisher, LocalKeys

OPENAI_ANSWER = {
    "model": "gpt-4o-mini",
    "choices": [{"message": {"content": "yo"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1000, "completion_tokens": 500},
}


class Upstream:
    def __init__(self) -> None:
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if request.url.path.endswith("/api/chat"):
            return httpx.Response(200, json={"message": {"content": "ok"}, "done": True})
        if request.url.path.endswith("/v1/messages"):
            return httpx.Response(200, json={"content": [{"type": "text", "text": "ok"}]})
        return httpx.Response(200, json=OPENAI_ANSWER)


def _app(**settings: Any) -> tuple[ProxyApp, ListPublisher, Upstream, LocalKeys]:
    cfg = ProxySettings(
        client_auth="keys",
        backends=[
            BackendConfig(name="oai", url="http://up.example", models=["gpt-*"]),
            BackendConfig(
                name="ant",
                url="http://ant.example",
                provider="anthropic",
                models=["claude-*"],
                api_key=SecretStr("sk-ant-server"),
            ),
            BackendConfig(
                name="oll", url="http://oll.example", provider="ollama", models=["llama*"]
            ),
        ],
        default_backend="oai",
        **settings,
    )
    keys, pub, up = LocalKeys(), ListPublisher(), Upstream()
    fwd = Forwarder(timeout_s=5, connect_timeout_s=1, transport=httpx.MockTransport(up))
    # A clock fixed mid-minute: the limit windows cannot roll over during a test.
    clock = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)
    gate = ClientGate(cfg, keys, limits=LimitGate(MemoryCounters(), clock=lambda: clock))
    return create_app(cfg, publisher=pub, forwarder=fwd, gate=gate), pub, up, keys


async def _issue(keys: LocalKeys, **grants: Any) -> tuple[str, KeyRecord]:
    key = new_key()
    rec = KeyRecord.model_validate(
        {"key_id": new_key_id(), "key_hash": key_hash(keys.secret, key), "team": "red", **grants}
    )
    await keys.write(rec)
    return key, rec


async def _client(app: ProxyApp) -> httpx.AsyncClient:
    await app.startup()
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proxy")


CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
CALLS = {
    "openai": ("/v1/chat/completions", CHAT),
    "anthropic": ("/v1/messages", {"model": "claude-3-haiku", "max_tokens": 5, "messages": []}),
    "ollama": ("/api/chat", {"model": "llama3", "messages": [], "stream": False}),
}


def _error_type(provider: str, body: dict[str, Any]) -> str:
    if provider == "anthropic":
        assert body["type"] == "error"
        return str(body["error"]["type"])
    if provider == "ollama":
        assert isinstance(body["error"], str)
        return str(body["type"])
    return str(body["error"]["type"])


@pytest.mark.parametrize("provider", ["openai", "anthropic", "ollama"])
@pytest.mark.parametrize("case", ["none", "malformed", "unknown", "disabled", "expired", "basic"])
async def test_bad_keys_get_401_in_the_provider_shape(provider: str, case: str) -> None:
    app, pub, up, keys = _app()
    key, _ = await _issue(
        keys,
        disabled=case == "disabled",
        expires_at=datetime.now(UTC) - timedelta(seconds=1) if case == "expired" else None,
    )
    headers = {
        "none": {},
        "malformed": {"authorization": "Bearer mt-oops"},
        "unknown": {"authorization": f"Bearer {new_key()}"},
        "disabled": {"x-api-key": key},
        "expired": {"api-key": key},
        "basic": {"authorization": f"Basic {key}"},  # a key in the wrong scheme is no key
    }[case]
    path, body = CALLS[provider]
    async with await _client(app) as client:
        resp = await client.post(path, json=body, headers={**headers, "x-session-id": "victim"})
    await app.shutdown()
    assert resp.status_code == 401, resp.text
    assert _error_type(provider, resp.json()) == "authentication_error"
    assert resp.headers["www-authenticate"] == "Bearer"
    assert up.seen == []
    (rejection,) = pub.of(LLMResponse)
    assert rejection.status_code == 401 and rejection.key_id is None
    assert rejection.session_id == "-"  # a client-named session is not trusted without a key
    assert key.encode() not in b"".join(encode(e) for e in pub.events)


@pytest.mark.parametrize("header", ["authorization", "x-api-key", "api-key"])
async def test_a_valid_key_from_any_client_header(header: str) -> None:
    app, pub, up, keys = _app()
    key, rec = await _issue(keys, user="ana")
    value = f"Bearer {key}" if header == "authorization" else key
    async with await _client(app) as client:
        resp = await client.post(
            "/v1/chat/completions", json=CHAT, headers={header: value, "x-session-id": "s1"}
        )
    await app.shutdown()
    assert resp.status_code == 200, resp.text
    (sent,) = up.seen
    assert key not in str(sent.headers) and "authorization" not in sent.headers
    assert resp.headers["x-modeltrail-session-id"] == f"{rec.key_id}:s1"
    (req,) = pub.of(LLMRequest)
    (res,) = pub.of(LLMResponse)
    for evt in (req, res):
        assert (evt.key_id, evt.team, evt.user) == (rec.key_id, "red", "ana")
        assert evt.session_id == f"{rec.key_id}:s1"
    assert res.cost_usd == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)
    assert key.encode() not in b"".join(encode(e) for e in pub.events)


async def test_backend_key_injected_and_client_key_stripped() -> None:
    app, _, up, keys = _app()
    key, _ = await _issue(keys)
    path, body = CALLS["anthropic"]
    async with await _client(app) as client:
        resp = await client.post(path, json=body, headers={"x-api-key": key})
    await app.shutdown()
    assert resp.status_code == 200
    (sent,) = up.seen
    assert sent.headers["x-api-key"] == "sk-ant-server" and key not in str(sent.headers)


async def test_same_session_name_under_two_keys_never_merges() -> None:
    app, pub, _, keys = _app()
    k1, r1 = await _issue(keys)
    k2, r2 = await _issue(keys)
    async with await _client(app) as client:
        for k in (k1, k2):
            await client.post(
                "/v1/chat/completions",
                json=CHAT,
                headers={"authorization": f"Bearer {k}", "x-session-id": "shared"},
            )
    await app.shutdown()
    assert {e.session_id for e in pub.of(LLMRequest)} == {
        f"{r1.key_id}:shared",
        f"{r2.key_id}:shared",
    }


@pytest.mark.parametrize(
    ("grants", "provider"),
    [({"models": ["gpt-4o-mini*"]}, "anthropic"), ({"backends": ["oai"]}, "ollama")],
)
async def test_key_outside_its_grants_gets_403(grants: dict[str, list[str]], provider: str) -> None:
    app, pub, up, keys = _app()
    key, rec = await _issue(keys, **grants)
    path, body = CALLS[provider]
    async with await _client(app) as client:
        resp = await client.post(path, json=body, headers={"authorization": f"Bearer {key}"})
        ok = await client.post("/v1/chat/completions", json=CHAT, headers={"api-key": key})
    await app.shutdown()
    assert resp.status_code == 403 and _error_type(provider, resp.json()) == "permission_error"
    assert ok.status_code == 200 and len(up.seen) == 1
    assert pub.of(LLMResponse)[0].key_id == rec.key_id


@pytest.mark.parametrize("provider", ["openai", "anthropic", "ollama"])
async def test_rate_limit_429_with_reset_in_the_provider_shape(provider: str) -> None:
    app, pub, up, keys = _app()
    key, rec = await _issue(keys, rpm=2)
    path, body = CALLS[provider]
    async with await _client(app) as client:
        codes = [
            (await client.post(path, json=body, headers={"x-api-key": key})).status_code
            for _ in range(2)
        ]
        resp = await client.post(path, json=body, headers={"x-api-key": key})
    await app.shutdown()
    assert codes == [200, 200]
    assert resp.status_code == 429 and _error_type(provider, resp.json()) == "rate_limit_error"
    assert resp.headers["x-ratelimit-reset"] == "2026-03-01T12:01:00+00:00"
    assert "reset_at" in orjson.dumps(resp.json()).decode()
    assert len(up.seen) == 2
    rejected = [e for e in pub.of(LLMResponse) if e.status_code == 429]
    assert len(rejected) == 1 and rejected[0].outcome == "rejected"
    assert rejected[0].key_id == rec.key_id


async def test_cached_tokens_priced_and_recorded_streamed_too() -> None:
    app, pub, up, keys = _app()
    key, _ = await _issue(keys)
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 0,
        "prompt_tokens_details": {"cached_tokens": 400},
    }

    def stream(request: httpx.Request) -> httpx.Response:
        up.seen.append(request)
        model = orjson.loads(request.content)["model"]
        chunks = [
            {"model": model, "choices": [{"delta": {"content": "hi"}}]},
            {"model": model, "choices": [], "usage": usage},
        ]
        sse = "".join(f"data: {orjson.dumps(c).decode()}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return httpx.Response(
            200, content=sse.encode(), headers={"content-type": "text/event-stream"}
        )

    app.forwarder = Forwarder(
        timeout_s=5, connect_timeout_s=1, transport=httpx.MockTransport(stream)
    )
    async with await _client(app) as client:
        for model in ("gpt-4o", "gpt-mystery"):
            body = {**CHAT, "model": model, "stream": True}
            resp = await client.post("/v1/chat/completions", json=body, headers={"x-api-key": key})
            assert resp.status_code == 200
    await app.shutdown()
    priced, unpriced = pub.of(LLMResponse)
    assert priced.cached_input_tokens == 400 and priced.stream
    assert priced.cost_usd == pytest.approx((600 * 2.5 + 400 * 1.25) / 1e6)
    assert unpriced.cost_usd is None and unpriced.input_tokens == 1000
    assert app.gate.unpriced == 1


async def test_the_modeltrail_key_wins_beside_a_provider_key() -> None:
    app, pub, up, keys = _app()
    key, rec = await _issue(keys)
    async with await _client(app) as client:
        both = {"authorization": "Bearer sk-openai-own", "x-api-key": key}
        ok = await client.post("/v1/chat/completions", json=CHAT, headers=both)
        only_theirs = await client.post(
            "/v1/chat/completions", json=CHAT, headers={"authorization": "Bearer sk-openai-own"}
        )
    await app.shutdown()
    assert ok.status_code == 200 and pub.of(LLMRequest)[0].key_id == rec.key_id
    assert only_theirs.status_code == 401 and "malformed" in only_theirs.text
    # Without an injected key the client's own provider key goes upstream; ours never.
    (sent,) = up.seen
    assert sent.headers["authorization"] == "Bearer sk-openai-own"
    assert key not in str(sent.headers) and "x-api-key" not in sent.headers
