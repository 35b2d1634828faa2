"""The dashboard's violation feed against a real broker: look-back, live push, idle stop."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer

from proxy.control.feed import ViolationFeed
from schemas import encode, encode_key
from schemas.events import Violation
from schemas.settings import KafkaSettings


def violation(session: str) -> Violation:
    return Violation(
        source="streams-1",
        session_id=session,
        rule_id="PI-001",
        owasp="LLM01",
        severity="high",
        action="block",
        enforced=True,
        target="request",
    )


async def produce(kafka: KafkaSettings, *events: Violation) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:
        for e in events:
            await producer.send_and_wait(kafka.topics.violations, encode(e), key=encode_key(e))
    finally:
        await producer.stop()


async def test_feed_replays_the_lookback_pushes_live_and_stops_when_idle(
    kafka_settings: KafkaSettings,
) -> None:
    await produce(kafka_settings, violation("before"))
    feed = ViolationFeed(kafka_settings, lookback_s=600, idle_stop_s=0.5, fetch_wait_ms=50)
    try:
        assert await feed.ensure_started()
        assert [v["session_id"] for v in feed.recent()] == ["before"]  # the look-back
        async with feed.subscribe() as queue:
            await produce(kafka_settings, violation("live"))
            pushed = await asyncio.wait_for(queue.get(), 10)
            assert pushed is not None and pushed["session_id"] == "live"
            await asyncio.sleep(1.0)
            assert feed.running  # an open stream keeps it running, idle or not
        deadline = asyncio.get_running_loop().time() + 10
        while feed.running:
            assert asyncio.get_running_loop().time() < deadline, "never stopped when idle"
            await asyncio.sleep(0.1)
        assert feed.recent() == [] and feed.received == 0  # a restart replays from scratch
        assert await feed.ensure_started()
        assert {v["session_id"] for v in feed.recent()} == {"before", "live"}
        assert feed.hits["PI-001"] == 2  # counted once each, not again on the restart
    finally:
        await feed.stop()
