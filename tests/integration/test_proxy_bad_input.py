"""Every bad input gets a JSON error in the backend's own shape and an audit event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from modeltrail.embedded.process import free_port
from proxy.settings import BackendConfig
from schemas.events import LLMResponse
from schemas.settings import KafkaSettings
from tests.support.proxy_harness import collect, for_request, make_settings, running_proxy

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}

# (id, path, headers, raw body, status, error type, outcome, shape)
TABLE: list[tuple[str, str, dict[str, str], bytes, int, str, str, str]] = [
    (
        "malformed-openai",
        "/v1/chat/completions",
        {},
        b'{"model": "gpt',
        400,
        "invalid_request_error",
        "rejected",
        "openai",
    ),
    (
        "malformed-anthropic",
        "/anthropic/v1/messages",
        {},
        b"{nope",
        400,
        "invalid_request_error",
        "rejected",
        "anthropic",
    ),
    (
        "too-large",
        "/v1/chat/completions",
        {},
        b'{"model":"gpt-4o","x":"' + b"a" * 5000 + b'"}',
        413,
        "request_too_large",
        "rejected",
        "openai",
    ),
    (
        "unknown-backend",
        "/v1/chat/completions",
        {"x-backend": "nope"},
        b"{}",
        404,
        "unknown_backend",
        "rejected",
        "openai",
    ),
    (
        "backend-refused",
        "/v1/chat/completions",
        {"x-backend": "dead"},
        b"{}",
        502,
        "upstream_unreachable",
        "unreachable",
        "openai",
    ),
    (
        "backend-timeout",
        "/api/chat",
        {"x-fake-timeout": "1"},
        b'{"model":"llama3"}',
        504,
        "upstream_timeout",
        "timeout",
        "ollama",
    ),
]


def _error_type(shape: str, body: dict[str, Any]) -> str:
    if shape == "anthropic":
        assert body["type"] == "error"
        return str(body["error"]["type"])
    if shape == "ollama":
        assert isinstance(body["error"], str)
        return str(body["type"])
    return str(body["error"]["type"])


@pytest.mark.parametrize(
    ("case", "path", "headers", "raw", "status", "etype", "outcome", "shape"),
    TABLE,
    ids=[t[0] for t in TABLE],
)
async def test_bad_input(
    case: str,
    path: str,
    headers: dict[str, str],
    raw: bytes,
    status: int,
    etype: str,
    outcome: str,
    shape: str,
    kafka_settings: KafkaSettings,
    fake_backend_url: str,
    tmp_path: Path,
) -> None:
    settings = make_settings(kafka_settings, fake_backend_url, tmp_path, max_body_bytes=4096)
    dead = BackendConfig(name="dead", url=f"http://127.0.0.1:{free_port()}")
    settings = settings.model_copy(update={"backends": [*settings.backends, dead]})
    async with running_proxy(settings) as proxy, httpx.AsyncClient(timeout=10) as client:
        resp = await client.post(
            proxy.url + path, content=raw, headers={"content-type": "application/json", **headers}
        )
        assert resp.status_code == status
        assert resp.headers["content-type"] == "application/json"
        assert _error_type(shape, resp.json()) == etype
        assert "Traceback" not in resp.text
        request_id = resp.headers["x-modeltrail-request-id"]
    events = await collect(
        settings.kafka,
        [settings.kafka.topics.responses],
        lambda evs: bool(for_request(evs, request_id)),
    )
    (evt,) = for_request(events, request_id)
    assert isinstance(evt, LLMResponse)
    assert (evt.status_code, evt.outcome, evt.error_type) == (status, outcome, etype)


async def test_client_disconnect_mid_stream_is_recorded(
    kafka_settings: KafkaSettings, fake_backend_url: str, tmp_path: Path
) -> None:
    settings = make_settings(kafka_settings, fake_backend_url, tmp_path)
    body = {**CHAT, "stream": True}
    slow = {"x-fake-chunks": "40", "x-fake-chunk-delay-ms": "100", "x-session-id": "gone"}
    async with running_proxy(settings) as proxy, httpx.AsyncClient() as client:
        async with client.stream(
            "POST", proxy.url + "/v1/chat/completions", json=body, headers=slow
        ) as resp:
            request_id = resp.headers["x-modeltrail-request-id"]
            async for _ in resp.aiter_raw():
                break  # one chunk, then hang up
        events = await collect(
            settings.kafka,
            [settings.kafka.topics.responses],
            lambda evs: bool(for_request(evs, request_id)),
        )
    (evt,) = for_request(events, request_id)
    assert isinstance(evt, LLMResponse)
    assert evt.outcome == "client_disconnect"
    assert evt.latency_ms < 3000  # cut long before the 4 s the full stream takes
