"""The container healthchecks and the topic one-shot against a real broker."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from modeltrail import topics
from modeltrail.embedded.process import free_port
from modeltrail.healthcheck import group_stable
from schemas.settings import KafkaSettings


async def test_group_stable_follows_a_real_consumer_group(kafka_settings: KafkaSettings) -> None:
    group = f"hc-{uuid.uuid4().hex[:8]}"
    assert not await group_stable(kafka_settings, group), "no member yet"
    consumer = AIOKafkaConsumer(
        kafka_settings.topics.requests,
        bootstrap_servers=kafka_settings.bootstrap_servers,
        group_id=group,
        fetch_max_wait_ms=10,
    )
    await consumer.start()
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while not consumer.assignment():
            assert asyncio.get_running_loop().time() < deadline, "never joined"
            await asyncio.sleep(0.05)
        assert await group_stable(kafka_settings, group)
    finally:
        await consumer.stop()


async def test_group_stable_is_false_without_a_broker() -> None:
    nowhere = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}")
    assert not await group_stable(nowhere, "any", timeout_s=1.0)


def test_topics_one_shot_creates_every_topic(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = f"one{uuid.uuid4().hex[:6]}."
    monkeypatch.setenv("MODELTRAIL_KAFKA__BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("MODELTRAIL_KAFKA__TOPIC_PREFIX", prefix)
    assert topics.main(timeout_s=20) == 0
    printed = capsys.readouterr().out.split()
    expected = KafkaSettings(topic_prefix=prefix).topics.all()
    assert sorted(printed) == sorted(expected)

    async def existing() -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    assert set(expected) <= asyncio.run(existing())
