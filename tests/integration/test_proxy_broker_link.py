"""`BrokerLink.send_batch` against a real broker: every record once, per-key order, the
partition `producer.send` would pick, and every record reported back when nothing is acked."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner

from modeltrail.embedded.servers import BrokerProcess
from proxy.broker_link import BrokerLink
from proxy.spool import SpoolRecord
from schemas.kafka import ensure_topics
from schemas.settings import KafkaSettings

BrokerFactory = Callable[[int | None], BrokerProcess]


async def _consume(
    kafka: KafkaSettings, topics: list[str], n: int
) -> list[tuple[str, int, bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    out: list[tuple[str, int, bytes, bytes]] = []
    try:
        while len(out) < n:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, f"only {len(out)} of {n} records arrived"
            for tp, msgs in batch.items():
                out.extend((tp.topic, tp.partition, m.key or b"", m.value or b"") for m in msgs)
    finally:
        await consumer.stop()
    return out


async def test_send_batch_delivers_every_record_in_key_order(kafka_settings: KafkaSettings) -> None:
    topics = [kafka_settings.topics.requests, kafka_settings.topics.responses]
    records: list[SpoolRecord] = []
    for i in range(300):
        key = f"session-{i % 7}".encode()
        # A few large values overflow one record batch, so a partition gets several.
        size = 200_000 if i % 25 == 0 else 10
        records.append((topics[i % 2], key, f"{i:05d}".encode() + b"x" * size))
    link = BrokerLink(kafka_settings, linger_ms=5, timeout_ms=5000)
    assert await link.connect()
    try:
        assert await link.send_batch(records) == []
    finally:
        await link.close()

    got = await _consume(kafka_settings, topics, len(records))
    assert sorted(v for *_, v in got) == sorted(v for *_, v in records)  # each exactly once
    by_key: dict[tuple[str, bytes], list[bytes]] = defaultdict(list)
    for topic, _, key, value in got:
        by_key[(topic, key)].append(value)
    for (topic, key), values in by_key.items():
        sent = [v for t, k, v in records if (t, k) == (topic, key)]
        assert values == sent  # one key's records keep their order
    partitions = list(range(kafka_settings.partitions))
    default = DefaultPartitioner()
    for _, partition, key, _ in got:
        assert partition == default(key, partitions, partitions)


async def test_send_batch_returns_every_record_in_order_when_nothing_is_acked(
    broker_factory: BrokerFactory,
) -> None:
    broker = broker_factory(None)
    kafka = KafkaSettings(bootstrap_servers=broker.address, topic_prefix="link.")
    await ensure_topics(kafka)
    link = BrokerLink(kafka, linger_ms=5, timeout_ms=1000)
    assert await link.connect()
    try:
        broker.kill()
        records: list[SpoolRecord] = [
            (kafka.topics.requests, f"s{i % 3}".encode(), str(i).encode()) for i in range(20)
        ]
        assert await link.send_batch(records) == records
    finally:
        await link.close()
