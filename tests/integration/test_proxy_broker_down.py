"""Broker outages: `spool` loses nothing and duplicates nothing; `fail_closed` answers 503;
`fail_open` keeps serving and counts drops."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

from modeltrail.embedded.servers import BrokerProcess
from proxy.app import ProxyApp
from proxy.emitter import Emitter
from proxy.spool import Spool
from schemas.codec import encode, encode_key
from schemas.events import EventEnvelope, LLMRequest, LLMResponse
from schemas.kafka import ensure_topics
from schemas.settings import KafkaSettings
from tests.support.polling import wait_until
from tests.support.proxy_harness import collect, make_settings, running_proxy

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
BrokerFactory = Callable[[int | None], BrokerProcess]


async def _fresh_kafka(broker: BrokerProcess) -> KafkaSettings:
    kafka = KafkaSettings(
        bootstrap_servers=broker.address, topic_prefix=f"t{uuid.uuid4().hex[:10]}."
    )
    await ensure_topics(kafka)
    return kafka


async def _send(client: httpx.AsyncClient, url: str, n: int, tag: str) -> list[str]:
    ids = []
    for i in range(n):
        resp = await client.post(
            url + "/v1/chat/completions", json=CHAT, headers={"x-session-id": f"{tag}-{i % 2}"}
        )
        assert resp.status_code == 200, resp.text
        ids.append(resp.headers["x-modeltrail-request-id"])
    return ids


def _complete(ids: list[str]) -> Callable[[list[EventEnvelope]], bool]:
    def done(events: list[EventEnvelope]) -> bool:
        seen = {(type(e), e.request_id) for e in events}
        return all((LLMRequest, r) in seen and (LLMResponse, r) in seen for r in ids)

    return done


async def test_spool_replays_every_event_once(
    broker_factory: BrokerFactory, fake_backend_url: str, tmp_path: Path
) -> None:
    broker = broker_factory(None)
    port = broker.port
    kafka = await _fresh_kafka(broker)
    settings = make_settings(kafka, fake_backend_url, tmp_path / "spool", emit_timeout_ms=1500)
    topics = [kafka.topics.requests, kafka.topics.responses]
    async with running_proxy(settings) as proxy, httpx.AsyncClient() as client:
        app: ProxyApp = proxy.app
        before = await _send(client, proxy.url, 4, "before")
        old = await collect(kafka, topics, _complete(before))
        assert _complete(before)(old)

        broker.stop()
        during = await _send(client, proxy.url, 6, "during")
        await wait_until(lambda: app.emitter.stats()["spooled"] >= 12, 20, "events to be spooled")
        assert (tmp_path / "spool" / "spool.log").stat().st_size > 0

        broker_factory(port)  # a new, empty broker on the same address
        await wait_until(
            lambda: (
                bool(app.emitter.stats()["broker_up"]) and app.emitter.stats()["spool_bytes"] == 0
            ),
            30,
            "the spool to be replayed",
        )
        after = await _send(client, proxy.url, 2, "after")
        new = await collect(kafka, topics, _complete(during + after))

    assert _complete(during + after)(new)
    counts = Counter(e.event_id for e in new)
    assert max(counts.values()) == 1, "an event arrived twice"
    old_ids = {e.event_id for e in old}
    assert not old_ids & set(counts), "an event acked by the old broker was replayed"
    assert app.emitter.stats()["dropped"] == 0
    # Order is kept per session: each session's request events arrive in send order.
    for tag in ("during-0", "during-1"):
        seen = [e.request_id for e in new if isinstance(e, LLMRequest) and e.session_id == tag]
        assert seen == [r for i, r in enumerate(during) if f"during-{i % 2}" == tag]


async def test_fail_closed_answers_503_then_recovers(
    broker_factory: BrokerFactory, fake_backend_url: str, tmp_path: Path
) -> None:
    broker = broker_factory(None)
    port = broker.port
    kafka = await _fresh_kafka(broker)
    settings = make_settings(kafka, fake_backend_url, tmp_path, on_broker_down="fail_closed")
    async with running_proxy(settings) as proxy, httpx.AsyncClient() as client:
        url = proxy.url + "/v1/chat/completions"
        assert (await client.post(url, json=CHAT)).status_code == 200
        broker.stop()
        deadline = asyncio.get_running_loop().time() + 10
        while (resp := await client.post(url, json=CHAT)).status_code == 200:
            assert asyncio.get_running_loop().time() < deadline, "never failed closed"
            await asyncio.sleep(0.05)
        assert resp.status_code == 503
        assert resp.json()["error"]["type"] == "audit_unavailable"

        broker_factory(port)
        deadline = asyncio.get_running_loop().time() + 20
        while (resp := await client.post(url, json=CHAT)).status_code == 503:
            assert asyncio.get_running_loop().time() < deadline, "never recovered"
            await asyncio.sleep(0.1)
        assert resp.status_code == 200


async def test_fail_open_serves_and_counts_drops(
    broker_factory: BrokerFactory, fake_backend_url: str, tmp_path: Path
) -> None:
    broker = broker_factory(None)
    kafka = await _fresh_kafka(broker)
    settings = make_settings(
        kafka, fake_backend_url, tmp_path, on_broker_down="fail_open", emit_timeout_ms=1000
    )
    async with running_proxy(settings) as proxy, httpx.AsyncClient() as client:
        broker.stop()
        await _send(client, proxy.url, 3, "open")
        await wait_until(
            lambda: proxy.app.emitter.stats()["dropped"] >= 6, 15, "drops to be counted"
        )
        assert proxy.app.emitter.stats()["spooled"] == 0


async def test_spool_left_by_a_crashed_process_is_replayed_at_start(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    events = [
        LLMResponse(
            source="crashed",
            session_id=f"s{i % 3}",
            request_id=f"r{i}",
            backend="b",
            provider="openai",
            path="/v1/chat/completions",
            status_code=200,
            latency_ms=1.0,
        )
        for i in range(25)
    ]
    spool = Spool(tmp_path)
    spool.open()
    topic = kafka_settings.topics.responses
    spool.append([(topic, encode_key(e), encode(e)) for e in events])
    spool.close()

    emitter = Emitter(kafka_settings, mode="spool", spool=Spool(tmp_path))
    async with emitter:
        await wait_until(lambda: emitter.stats()["spool_bytes"] == 0, 20, "the replay")
        assert emitter.healthy and emitter.stats()["replayed"] == 25
    got = await collect(kafka_settings, [topic], lambda evs: len(evs) >= 25, timeout_s=10)
    assert [e.event_id for e in got if e.session_id == "s0"] == [
        e.event_id for e in events if e.session_id == "s0"
    ]
    assert sorted(e.event_id for e in got) == sorted(e.event_id for e in events)
