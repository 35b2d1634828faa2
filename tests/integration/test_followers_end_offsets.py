"""Followers find the end of a partition from fetches, not from ListOffsets(latest).

Tansu 0.6 answers ListOffsets(latest) with the base offset of the last record
batch plus one, so a partition whose last batch holds several records looks
shorter than it is; with its `s3://` storage the answer can stay below the end
for good. A replay that trusted it stopped before the last records (a key
disabled or killed last was not known when the replica started serving), and
the reset check took every caught-up partition for a replaced log: it re-read
the topic from the beginning every two seconds and published the kept operator
commands again each time (what made kills on `s3` storage take seconds).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import UnknownTopicOrPartitionError

from modeltrail.embedded.servers import BROKER_BUCKET, ensure_bucket, tansu_broker
from proxy.enforcement.commands import TopicFollower
from schemas.kafka import ensure_topics
from schemas.resets import ResetWatch
from schemas.settings import KafkaSettings
from tests.conftest import S3Server

RECORDS = 12  # per partition: a single record, then a batch of the rest


@pytest.fixture(scope="module")
def s3_broker(s3_server: S3Server, logs_dir: Path) -> Iterator[str]:
    """A Tansu broker on its `s3://` storage (SeaweedFS), as `modeltrail up` runs it."""
    ensure_bucket(s3_server.endpoint, BROKER_BUCKET)
    proc = tansu_broker(
        None, logs_dir / "broker-s3-ends.log", s3_endpoint=s3_server.endpoint
    ).start()
    try:
        yield proc.address
    finally:
        proc.stop()


@pytest.fixture(params=["memory", "s3"])
def kafka(request: pytest.FixtureRequest) -> KafkaSettings:
    bootstrap = request.getfixturevalue(
        "kafka_bootstrap" if request.param == "memory" else "s3_broker"
    )
    return KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"e{uuid.uuid4().hex[:10]}.")


async def _fill(kafka: KafkaSettings, topic: str) -> int:
    """One lone record, then one multi-record batch, in every partition; returns the count."""
    producer = AIOKafkaProducer(
        acks="all",
        enable_idempotence=False,
        linger_ms=50,
        **kafka.client_kwargs(),  # type: ignore[arg-type]
    )
    await producer.start()
    try:
        deadline = time.monotonic() + 30  # a topic just made shows in metadata a bit later
        while True:
            try:
                await producer.partitions_for(topic)
                break
            except UnknownTopicOrPartitionError:
                assert time.monotonic() < deadline, f"{topic} never appeared"
                await asyncio.sleep(0.2)
        for partition in range(kafka.partitions):
            await producer.send_and_wait(topic, b"first", key=b"k0", partition=partition)
            sent = [
                await producer.send(topic, b"v%d" % i, key=b"k%d" % i, partition=partition)
                for i in range(1, RECORDS)
            ]
            for future in sent:
                await future
    finally:
        await producer.stop()
    return RECORDS * kafka.partitions


@pytest.fixture
async def filled(kafka: KafkaSettings) -> AsyncIterator[tuple[KafkaSettings, int]]:
    await ensure_topics(kafka)
    yield kafka, await _fill(kafka, kafka.topics.commands)


async def test_a_replay_hands_over_every_record_the_last_batch_included(
    filled: tuple[KafkaSettings, int],
) -> None:
    kafka, total = filled
    seen: list[ConsumerRecord[bytes, bytes]] = []

    async def keep(record: ConsumerRecord[bytes, bytes]) -> None:
        seen.append(record)

    follower = TopicFollower(kafka, kafka.topics.commands, keep, from_beginning=True)
    await follower.start()
    try:
        # start() returned: the replay is complete, the last batch's records included
        assert follower.replayed == total
        assert {(r.partition, r.value) for r in seen} == {
            (p, v)
            for p in range(kafka.partitions)
            for v in [b"first"] + [b"v%d" % i for i in range(1, RECORDS)]
        }
    finally:
        await follower.stop()


async def test_a_caught_up_follower_is_not_taken_for_a_replaced_log(
    filled: tuple[KafkaSettings, int],
) -> None:
    kafka, total = filled
    consumer = AIOKafkaConsumer(
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=5,
        **kafka.client_kwargs(),  # type: ignore[arg-type]
    )
    await consumer.start()
    watch = ResetWatch(kafka)
    try:
        tps = [TopicPartition(kafka.topics.commands, p) for p in range(kafka.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        read = 0
        while read < total:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    watch.seen(record)
                    read += 1
        await consumer.getmany(timeout_ms=100)  # one more fetch: the high watermarks now
        for tp in tps:
            assert await consumer.position(tp) == RECORDS
        assert await watch.check(consumer) == []
        assert await watch.check(consumer) == []
    finally:
        await watch.close()
        await consumer.stop()
