"""Commits left past the end of a replaced log are set back to its start (`reset_stale_commits`).

Tansu takes a commit from a member it does not know, and answers a fetch past the
end of a log with no records rather than "out of range": a consumer that committed
what it read from the log before a broker reset made the next one wait past the
new log's end and skip every record before it (the sink lost 739 acknowledged
events in the memory-broker chaos run; the streams worker judged none of them).
"""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas.kafka import ensure_topics
from schemas.resets import reset_stale_commits
from schemas.settings import KafkaSettings


async def _committed(
    kafka: KafkaSettings, group: str, tps: list[TopicPartition]
) -> list[int | None]:
    consumer = AIOKafkaConsumer(group_id=group, enable_auto_commit=False, **kafka.client_kwargs())  # type: ignore[arg-type]
    await consumer.start()
    try:
        return [await consumer.committed(tp) for tp in tps]
    finally:
        await consumer.stop()


async def test_a_commit_past_the_end_is_set_back_and_the_others_are_kept(
    kafka_bootstrap: str,
) -> None:
    kafka = KafkaSettings(
        bootstrap_servers=kafka_bootstrap, topic_prefix=f"s{uuid.uuid4().hex[:8]}."
    )
    await ensure_topics(kafka)
    topic = kafka.topics.requests
    producer = AIOKafkaProducer(**kafka.client_kwargs())  # type: ignore[arg-type]
    await producer.start()
    try:
        for partition in (0, 1):
            for i in range(5):
                await producer.send_and_wait(topic, b"v%d" % i, partition=partition)
    finally:
        await producer.stop()
    group = f"g-{uuid.uuid4().hex[:8]}"
    stale, fine, empty = (TopicPartition(topic, p) for p in (0, 1, 2))
    committer = AIOKafkaConsumer(group_id=group, enable_auto_commit=False, **kafka.client_kwargs())  # type: ignore[arg-type]
    await committer.start()
    try:
        committer.assign([stale, fine])
        await committer.commit({stale: 300, fine: 3})  # 300: read from a log that is gone
    finally:
        await committer.stop()

    assert await reset_stale_commits(kafka, group, [topic]) == [stale]
    assert await _committed(kafka, group, [stale, fine, empty]) == [0, 3, None]
    assert await reset_stale_commits(kafka, group, [topic]) == []  # idempotent
