"""The control API against the real broker, and kills through the real forwarding app."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn
from pydantic import SecretStr

from modeltrail.embedded.process import free_port
from proxy.app import create_app
from proxy.control import create_control_app
from proxy.emitter import Emitter
from proxy.enforcement import EnforcementService
from proxy.settings import BackendConfig, ControlKey, ProxySettings
from schemas.settings import KafkaSettings

KEYS = [
    ControlKey(id="viewer", key=SecretStr("viewer-secret"), scopes=["read"]),
    ControlKey(id="oncall", key=SecretStr("oncall-secret"), scopes=["kill", "read"]),
]
READ = {"Authorization": "Bearer viewer-secret"}
KILL = {"Authorization": "Bearer oncall-secret"}


def settings_for(kafka: KafkaSettings, tmp_path: Path, backend_url: str = "") -> ProxySettings:
    return ProxySettings(
        kafka=kafka,
        client_auth="none",
        control_keys=KEYS,
        on_broker_down="fail_open",
        spool_dir=tmp_path / "spool",
        history_path=str(tmp_path / "trail"),
        backends=[BackendConfig(name="fake", url=backend_url or "http://127.0.0.1:9")],
        default_backend="fake",
        enforcement_replay_timeout_s=20,
    )


@pytest.fixture
async def emitter(kafka_settings: KafkaSettings) -> AsyncIterator[Emitter]:
    async with Emitter(kafka_settings, mode="fail_open") as e:
        yield e


async def test_control_kill_is_published_and_seen_by_another_replica(
    kafka_settings: KafkaSettings, tmp_path: Path, emitter: Emitter
) -> None:
    settings = settings_for(kafka_settings, tmp_path)
    session = f"s-{uuid.uuid4().hex[:10]}"
    async with EnforcementService(settings) as here, EnforcementService(settings) as there:
        app = create_control_app(settings, here, emitter)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            denied = await client.post(f"/control/sessions/{session}/kill", json={}, headers=READ)
            assert denied.status_code == 403
            assert (await client.get("/control/sessions")).status_code == 401

            start = time.perf_counter()
            r = await client.post(
                f"/control/sessions/{session}/kill",
                json={"reason": "operator says so", "mode": "permanent"},
                headers=KILL,
            )
            assert r.status_code == 200, r.text
            assert r.json()["delivery"] == "acked"
            assert here.check(session) is not None  # applied locally at once
            while there.check(session) is None:
                assert time.perf_counter() - start < 1.0, "not seen by the other replica in 1 s"
                await asyncio.sleep(0.002)
            print(f"control_kill_to_other_replica_ms={(time.perf_counter() - start) * 1000:.1f}")

            listed = await client.get("/control/sessions", params={"killed": True}, headers=READ)
            assert [s["session_id"] for s in listed.json()["sessions"]] == [session]
            r = await client.post(f"/control/sessions/{session}/resume", json={}, headers=KILL)
            assert r.status_code == 200
            while there.check(session) is not None:
                assert time.perf_counter() - start < 5.0
                await asyncio.sleep(0.002)
            history = await client.get("/control/history", headers=READ)
            assert history.status_code == 200 and history.json() == {"count": 0, "events": []}

    # A replica started afterwards replays kill + resume: the session is free.
    async with EnforcementService(settings) as later:
        assert later.check(session) is None
        # Only a marker is left of the resumed session (bounded state), no kill held.
        assert later.registry.latest(session) is None and later.registry.known(session)


async def test_killed_session_gets_403_and_a_running_stream_is_cut(
    kafka_settings: KafkaSettings, tmp_path: Path, fake_backend_url: str
) -> None:
    settings = settings_for(kafka_settings, tmp_path, fake_backend_url)
    enforcement = EnforcementService(settings)
    proxy = create_app(settings, enforcement=enforcement)
    control = create_control_app(settings, enforcement, proxy.emitter, metrics=proxy.metrics)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(proxy, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done(), "proxy did not start"
            await asyncio.sleep(0.02)
        session = f"s-{uuid.uuid4().hex[:10]}"
        body = {
            "model": "gpt-4o-mini",
            "stream": True,
            "messages": [{"role": "user", "content": "tell me a long story"}],
        }
        headers = {"X-Session-ID": session, "X-Fake-Chunks": "60", "X-Fake-Chunk-Delay-Ms": "50"}
        ctl = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=control), base_url="http://localhost"
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            received = b""
            start = time.perf_counter()
            async with client.stream(
                "POST", "/v1/chat/completions", json=body, headers=headers
            ) as stream:
                assert stream.status_code == 200
                killed_at = None
                async for chunk in stream.aiter_bytes():
                    received += chunk
                    if killed_at is None and b"data:" in received:
                        r = await ctl.post(
                            f"/control/sessions/{session}/kill",
                            json={"reason": "exfiltration attempt", "rule_id": "ops.manual"},
                            headers=KILL,
                        )
                        assert r.status_code == 200, r.text
                        killed_at = time.perf_counter()
            elapsed = time.perf_counter() - start
            assert killed_at is not None
            # Cut at the next chunk: far sooner than the 3 s the full stream takes.
            assert elapsed < 1.5, f"stream ran {elapsed:.2f}s after the kill"
            events = [line for line in received.split(b"\n") if line.startswith(b"data:")]
            assert b"[DONE]" not in received
            last = orjson.loads(events[-1][5:])
            assert "error" in last and "exfiltration attempt" in orjson.dumps(last).decode()

            refused = await client.post("/v1/chat/completions", json=body, headers=headers)
            assert refused.status_code == 403
            assert refused.headers["content-type"].startswith("application/json")
            text = refused.text
            assert "exfiltration attempt" in text and "ops.manual" in text

            r = await ctl.post(f"/control/sessions/{session}/resume", json={}, headers=KILL)
            assert r.status_code == 200
            body["stream"] = False
            ok = await client.post(
                "/v1/chat/completions", json=body, headers={"X-Session-ID": session}
            )
            assert ok.status_code == 200

            await enforcement.flush()
            detail = (await ctl.get(f"/control/sessions/{session}", headers=READ)).json()
            assert detail["requests"] == 3 and detail["killed"] is False
            assert detail["kill"]["command"] == "resume"
            metrics = (await ctl.get("/metrics", headers=READ)).text
            assert (
                'modeltrail_proxy_kill_commands_total{command="kill",source="local"} 1.0' in metrics
            )
        await ctl.aclose()
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, timeout=15)
