"""Smoke tests: every server the suite relies on is real and answers."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import boto3
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from modeltrail.embedded.servers import S3_ACCESS_KEY, S3_SECRET_KEY, ensure_bucket, s3_gateway
from schemas import ChatMessage, LLMRequest, decode, encode, encode_key
from schemas.settings import KafkaSettings


async def test_kafka_produce_consume_round_trip(kafka_settings: KafkaSettings) -> None:
    topic = kafka_settings.topics.requests
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers, acks="all")
    await producer.start()
    sent = [
        LLMRequest(
            source="test",
            session_id=f"s{i}",
            backend="b",
            provider="openai",
            path="/v1/chat/completions",
            messages=[ChatMessage(role="user", content=f"m{i}")],
        )
        for i in range(20)
    ]
    try:
        for event in sent:
            await producer.send(topic, encode(event), key=encode_key(event))
        await producer.flush()
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_settings.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    received = []
    try:
        async with asyncio.timeout(20):
            while len(received) < len(sent):
                batch = await consumer.getmany(timeout_ms=200)
                received += [decode(m.value) for msgs in batch.values() for m in msgs]
    finally:
        await consumer.stop()
    assert sorted(e.event_id for e in received) == sorted(e.event_id for e in sent)


def test_s3_put_get(s3_server, s3_prefix: str) -> None:  # type: ignore[no-untyped-def]
    client = s3_server.client()
    key = f"{s3_prefix}/hello.txt"
    client.put_object(Bucket=s3_server.bucket, Key=key, Body=b"hello s3")
    assert client.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read() == b"hello s3"
    listed = client.list_objects_v2(Bucket=s3_server.bucket, Prefix=s3_prefix)
    assert [o["Key"] for o in listed["Contents"]] == [key]


def test_s3_takes_writes_in_several_buckets(tmp_path: Path, logs_dir: Path) -> None:
    """Each bucket is a SeaweedFS collection that grows its own volumes on first write.

    With weed's default cap of 8 volumes, the first bucket's growth used them all and
    every write to a second one failed ("no writable volumes"): the broker's bucket
    next to the trail's, in CI.
    """
    proc = s3_gateway(tmp_path / "weed", logs_dir / "s3-buckets.log").start()
    try:
        client = boto3.client(
            "s3",
            endpoint_url=proc.endpoint,
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
            region_name="us-east-1",
        )
        for i in range(4):
            ensure_bucket(proc.endpoint, f"bucket-{i}")
            client.put_object(Bucket=f"bucket-{i}", Key="k", Body=b"v%d" % i)
        for i in range(4):
            assert client.get_object(Bucket=f"bucket-{i}", Key="k")["Body"].read() == b"v%d" % i
    finally:
        proc.stop()


def test_redis_set_get(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    key = f"modeltrail-test:{uuid.uuid4().hex}"
    try:
        client.set(key, b"v", ex=30)
        assert client.get(key) == b"v"
    finally:
        client.delete(key)
        client.close()


async def test_fake_backend_streams_a_completion(fake_backend_url: str) -> None:
    body = {
        "model": "gpt-4o-mini",
        "stream": True,
        "messages": [{"role": "user", "content": "say hi"}],
    }
    async with httpx.AsyncClient(base_url=fake_backend_url) as client:
        async with client.stream(
            "POST", "/v1/chat/completions", json=body, headers={"X-Fake-Reply": "hi there friend"}
        ) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            chunks = [c async for c in resp.aiter_text()]
    text = "".join(chunks)
    assert "data: [DONE]" in text
    assert text.count("data: ") > 2
