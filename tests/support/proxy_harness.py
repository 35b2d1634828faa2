"""Helpers for the proxy integration tests: a real uvicorn proxy, a byte-recording
upstream transport and a Kafka event collector. Not a test module."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from aiokafka import AIOKafkaConsumer
from httpx_aiohttp import AiohttpTransport

from modeltrail.embedded.process import free_port
from proxy.app import ProxyApp, create_app
from proxy.forward import Forwarder
from proxy.settings import BackendConfig, ProxySettings
from schemas.codec import decode
from schemas.events import EventEnvelope
from schemas.settings import KafkaSettings


class RecordingTransport(httpx.AsyncBaseTransport):
    """Wraps the real upstream transport and keeps every response body's exact bytes."""

    def __init__(self) -> None:
        self.inner = AiohttpTransport(trust_env=False)
        self.bodies: list[bytearray] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        record = bytearray()
        self.bodies.append(record)
        inner_stream = response.stream

        class Tee(httpx.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                async for chunk in inner_stream:  # type: ignore[union-attr]
                    record.extend(chunk)
                    yield chunk

            async def aclose(self) -> None:
                await inner_stream.aclose()  # type: ignore[union-attr]

        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=Tee(),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


def make_settings(
    kafka: KafkaSettings, backend_url: str, spool_dir: Path, **overrides: Any
) -> ProxySettings:
    """Three backends on the fake (base paths kept), OpenAI by default."""
    backends = [
        BackendConfig(name="openai", url=backend_url, provider="openai", models=["gpt-*"]),
        BackendConfig(
            name="anthropic",
            url=f"{backend_url}/anthropic-base",
            provider="anthropic",
            models=["claude-*"],
            path_prefix="/anthropic",
        ),
        BackendConfig(
            name="ollama", url=f"{backend_url}/ollama", provider="ollama", models=["llama*"]
        ),
    ]
    values: dict[str, Any] = {
        "kafka": kafka,
        "backends": backends,
        "default_backend": "openai",
        "spool_dir": spool_dir,
        "upstream_timeout_s": 1.5,
        "connect_timeout_s": 1.0,
        "emit_timeout_ms": 2000,
        "client_auth": "none",
    }
    values.update(overrides)
    return ProxySettings(**values)


@dataclass
class RunningProxy:
    app: ProxyApp
    url: str
    recorder: RecordingTransport
    server: uvicorn.Server = field(repr=False)


@contextlib.asynccontextmanager
async def running_proxy(settings: ProxySettings, **kwargs: Any) -> AsyncIterator[RunningProxy]:
    """The proxy app served by a real uvicorn server in this event loop."""
    recorder = RecordingTransport()
    forwarder = Forwarder(
        timeout_s=settings.upstream_timeout_s,
        connect_timeout_s=settings.connect_timeout_s,
        transport=recorder,
    )
    app = create_app(settings, forwarder=forwarder, **kwargs)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="on", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    # `_serve` skips uvicorn's signal capture: pytest keeps its own handlers.
    task = asyncio.create_task(server._serve())
    deadline = asyncio.get_running_loop().time() + 30
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("proxy server exited during start-up")
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("proxy did not start")
        await asyncio.sleep(0.02)
    try:
        yield RunningProxy(app, f"http://127.0.0.1:{port}", recorder, server)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def collect(
    kafka: KafkaSettings,
    topics: list[str],
    until: Callable[[list[EventEnvelope]], bool],
    timeout_s: float = 20.0,
) -> list[EventEnvelope]:
    """Every event on `topics` from the beginning, read until `until(events)` or a timeout."""
    consumer = AIOKafkaConsumer(
        *topics,
        **kafka.client_kwargs(),  # type: ignore[arg-type]
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    events: list[EventEnvelope] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not until(events):
            if asyncio.get_running_loop().time() > deadline:
                break
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                events.extend(decode(r.value) for r in records if r.value is not None)
    finally:
        await consumer.stop()
    return events


def for_request(events: list[EventEnvelope], request_id: str) -> list[EventEnvelope]:
    return [e for e in events if e.request_id == request_id]
