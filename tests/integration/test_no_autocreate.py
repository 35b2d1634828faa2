"""No modeltrail client makes the broker create a topic by naming it (`schemas.no_autocreate`).

Tansu creates any topic named in a Metadata request that allows it, with four
partitions and no configs; aiokafka allows it in every request. After the embedded
memory broker restarted empty, the proxy's producer created the `llm.*` topics that
way before `up` could create them with their settings.
"""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaTimeoutError, UnknownTopicOrPartitionError

from schemas.kafka import ensure_topics
from schemas.settings import KafkaSettings


async def _partitions(settings: KafkaSettings, topic: str) -> int | None:
    admin = AIOKafkaAdminClient(**settings.client_kwargs())  # type: ignore[arg-type]
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            return None
        described = await admin.describe_topics([topic])
        return len(described[0]["partitions"])
    finally:
        await admin.close()


async def test_asking_about_a_topic_does_not_create_it(kafka_bootstrap: str) -> None:
    settings = KafkaSettings(
        bootstrap_servers=kafka_bootstrap, topic_prefix=f"n{uuid.uuid4().hex[:8]}."
    )
    topic = settings.topics.requests
    producer = AIOKafkaProducer(
        request_timeout_ms=3000,
        **settings.client_kwargs(),  # type: ignore[arg-type]
    )
    await producer.start()
    try:
        with pytest.raises(UnknownTopicOrPartitionError):
            await producer.partitions_for(topic)
        with pytest.raises((UnknownTopicOrPartitionError, KafkaTimeoutError)):
            await producer.send_and_wait(topic, b"x")
    finally:
        await producer.stop()
    assert await _partitions(settings, topic) is None
    await ensure_topics(settings)
    assert await _partitions(settings, topic) == settings.partitions
