"""A full emitter queue with the broker up: `spool` loses nothing and keeps each session's
order; `fail_closed` answers 503 in the backend's error shape before the queue is full."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from proxy.emitter import Emitter
from proxy.spool import Spool
from schemas.events import EventEnvelope
from schemas.settings import KafkaSettings
from tests.support.proxy_harness import collect, make_settings, running_proxy
from tests.support.session_events import numbered_request


async def test_spool_mode_spills_and_replays_everything_in_order(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    emitter = Emitter(
        kafka_settings,
        mode="spool",
        spool=Spool(tmp_path / "spool", fsync="never"),
        queue_size=8,
        gather_ms=2,
    )
    await emitter.start()
    n = 0
    try:
        assert emitter.healthy
        for _ in range(10):  # bursts far bigger than the queue, with the drain running between
            for _i in range(60):
                assert emitter.publish(numbered_request(n))
                n += 1
            await asyncio.sleep(0)
    finally:
        await emitter.stop()
    assert emitter.spooled > 0, "the queue never overflowed: the test proves nothing"
    assert emitter.dropped == 0
    assert emitter.replayed == emitter.spooled, "spilled events are replayed while the broker is up"
    assert emitter.stats()["spilling"] is False

    def complete(events: list[EventEnvelope]) -> bool:
        return len(events) >= n

    events = await collect(kafka_settings, [kafka_settings.topics.requests], complete)
    ids = [e.request_id for e in events]
    assert sorted(ids) == [f"r-{i:05d}" for i in range(n)], "lost or duplicated events"
    for session in ("s-0", "s-1", "s-2"):
        mine = [e.request_id for e in events if e.session_id == session]
        assert mine == sorted(mine), f"{session} out of order"


async def test_fail_closed_answers_503_when_the_queue_is_nearly_full(
    kafka_settings: KafkaSettings, fake_backend_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        kafka_settings,
        fake_backend_url,
        tmp_path / "spool",
        on_broker_down="fail_closed",
        queue_size=20,
        emit_gather_ms=3000,  # the drain holds off: the queue fills up
    )
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    async with running_proxy(settings) as proxy, httpx.AsyncClient() as client:
        emitter = proxy.app.emitter
        assert isinstance(emitter, Emitter) and emitter.healthy
        ok = await client.post(proxy.url + "/v1/chat/completions", json=chat)
        assert ok.status_code == 200
        filled = 0
        while emitter.accepting():
            assert emitter.publish(numbered_request(filled))
            filled += 1
        depth = emitter.stats()["queue_depth"]
        assert isinstance(depth, int) and 0 < depth < 20, "must refuse before the queue is full"
        refused = await client.post(proxy.url + "/v1/chat/completions", json=chat)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["type"] == "audit_unavailable"
        assert emitter.dropped == 0
