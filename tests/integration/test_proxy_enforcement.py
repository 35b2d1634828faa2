"""Kill enforcement against the real broker and a real Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta

import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from modeltrail.embedded.process import free_port
from proxy.enforcement import EnforcementService, ReplayTimeout
from proxy.settings import ProxySettings
from schemas.codec import encode, encode_key
from schemas.events import (
    BlockMode,
    CommandKind,
    DeadLetter,
    EventEnvelope,
    LLMRequest,
    LLMResponse,
    SessionCommand,
    Violation,
    utcnow,
)
from schemas.ids import uuid7
from schemas.kafka import ensure_topics
from schemas.settings import KafkaSettings, RedisSettings


def proxy_settings(
    kafka: KafkaSettings, redis_url: str | None = None, key_prefix: str | None = None
) -> ProxySettings:
    extra: dict[str, object] = {}
    if redis_url is not None:
        extra = {
            "session_store": "redis",
            "redis": RedisSettings(url=SecretStr(redis_url), key_prefix=key_prefix or "x:"),
        }
    return ProxySettings(kafka=kafka, enforcement_replay_timeout_s=20, **extra)  # type: ignore[arg-type]


def command(
    sid: str,
    kind: CommandKind = "kill",
    mode: BlockMode | None = "permanent",
    duration_s: float | None = None,
) -> SessionCommand:
    now = utcnow()
    return SessionCommand(
        source="test",
        session_id=sid,
        time=now,
        command=kind,
        block_mode=mode if kind == "kill" else None,
        expires_at=now + timedelta(seconds=duration_s) if duration_s else None,
        reason="test kill",
        rule_id="test.rule",
        issuer="test",
        decision_id=uuid7(),
    )


def sid() -> str:
    return f"s-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def producer(kafka_settings: KafkaSettings) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(acks="all", linger_ms=0, **kafka_settings.client_kwargs())  # type: ignore[arg-type]
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
async def key_prefix(redis_url: str) -> AsyncIterator[str]:
    prefix = f"test:{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = aioredis.Redis.from_url(redis_url)
    keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def send(producer: AIOKafkaProducer, kafka: KafkaSettings, event: EventEnvelope) -> None:
    topic = kafka.topics.for_event(event)
    await producer.send_and_wait(topic, encode(event), key=encode_key(event))


async def eventually(predicate, within: float = 5.0, interval: float = 0.01) -> float:  # type: ignore[no-untyped-def]
    """Poll until `predicate()` is truthy; return the seconds it took."""
    start = time.perf_counter()
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return time.perf_counter() - start
        if time.perf_counter() - start > within:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)


async def test_kill_from_kafka_is_enforced_within_one_second(
    kafka_settings: KafkaSettings, producer: AIOKafkaProducer
) -> None:
    victim, bystander = sid(), sid()
    async with EnforcementService(proxy_settings(kafka_settings)) as service:
        assert service.check(victim) is None
        latencies = []
        for _ in range(3):
            kill = command(victim)
            start = time.perf_counter()
            await send(producer, kafka_settings, kill)
            await eventually(lambda kill=kill: service.check(victim) == kill, interval=0.001)
            latencies.append(time.perf_counter() - start)
            await send(producer, kafka_settings, command(victim, "resume"))
            await eventually(lambda: service.check(victim) is None, interval=0.001)
        print(f"kill_latency_ms={[round(x * 1000, 1) for x in latencies]}")
        assert max(latencies) < 1.0
        assert service.check(bystander) is None


async def test_a_service_started_after_the_kill_refuses_the_session(
    kafka_settings: KafkaSettings, producer: AIOKafkaProducer
) -> None:
    killed, resumed, expired = sid(), sid(), sid()
    await send(producer, kafka_settings, command(killed))
    await send(producer, kafka_settings, command(resumed))
    await send(producer, kafka_settings, command(resumed, "resume"))
    await send(producer, kafka_settings, command(expired, mode="duration", duration_s=0.001))
    # The check right after start() returns: no waiting, the replay is done.
    async with EnforcementService(proxy_settings(kafka_settings)) as service:
        blocking = service.check(killed)
        assert blocking is not None and blocking.reason == "test kill"
        assert service.check(resumed) is None
        assert service.check(expired) is None
        stats = await service.stats()
        assert stats["commands_replayed"] == 4 and stats["killed_sessions"] == 1


async def test_duration_kill_expires_and_resume_lifts(
    kafka_settings: KafkaSettings, producer: AIOKafkaProducer
) -> None:
    a, b = sid(), sid()
    async with EnforcementService(proxy_settings(kafka_settings)) as service:
        await send(producer, kafka_settings, command(a, mode="duration", duration_s=1.0))
        await send(producer, kafka_settings, command(b))
        await eventually(lambda: service.check(a) is not None and service.check(b) is not None)
        took = await eventually(lambda: service.check(a) is None, within=3.0)
        assert 0.3 < took < 1.5
        assert service.check(b) is not None
        await send(producer, kafka_settings, command(b, "resume"))
        await eventually(lambda: service.check(b) is None)


async def test_violations_flag_sessions_and_bad_records_go_to_dead_letters(
    kafka_settings: KafkaSettings, producer: AIOKafkaProducer
) -> None:
    class Letters:
        def __init__(self) -> None:
            self.events: list[EventEnvelope] = []

        def publish(self, event: EventEnvelope) -> bool:
            self.events.append(event)
            return True

        def stats(self) -> Mapping[str, object]:
            return {}

    letters = Letters()
    s = sid()
    settings = proxy_settings(kafka_settings)
    async with EnforcementService(settings, publisher=letters) as service:
        await producer.send_and_wait(kafka_settings.topics.commands, b"{not json", key=s.encode())
        violation = Violation(
            source="streams",
            session_id=s,
            rule_id="secrets.aws_key",
            owasp="LLM02",
            severity="critical",
            action="flag",
            enforced=True,
            target="request",
        )
        await send(producer, kafka_settings, violation)
        await send(producer, kafka_settings, violation)  # redelivered: counted once

        async def flagged() -> bool:
            info = await service.session(s)
            return info is not None and info.flagged and info.violations == 1

        await eventually(flagged)
        await eventually(lambda: bool(letters.events))
        [letter] = letters.events
        assert isinstance(letter, DeadLetter) and letter.topic == kafka_settings.topics.commands
        assert [i.session_id for i in await service.sessions(flagged=True)] == [s]
        # the follower survived the poison record
        await send(producer, kafka_settings, command(s))
        await eventually(lambda: service.check(s) is not None)


def request(s: str, backend: str = "openai") -> LLMRequest:
    return LLMRequest(
        source="p", session_id=s, backend=backend, provider="openai", path="/v1/chat/completions"
    )


def response(s: str, tokens: int) -> LLMResponse:
    return LLMResponse(
        source="p",
        session_id=s,
        backend="openai",
        provider="openai",
        path="/v1/chat/completions",
        status_code=200,
        latency_ms=1.0,
        total_tokens=tokens,
    )


async def test_two_services_on_redis_share_sessions_and_kills(
    kafka_settings: KafkaSettings, redis_url: str, key_prefix: str
) -> None:
    settings = proxy_settings(kafka_settings, redis_url, key_prefix)
    s = sid()
    async with EnforcementService(settings) as one, EnforcementService(settings) as two:
        one.observe_request(request(s))
        one.observe_response(response(s, 10))
        two.observe_request(request(s))
        two.observe_response(response(s, 5))
        await one.flush()
        await two.flush()
        for service in (one, two):
            info = await service.session(s)
            assert info is not None
            assert (info.requests, info.responses, info.total_tokens) == (2, 2, 15)

        # A kill applied on one replica only (never sent to Kafka) reaches the other.
        kill = command(s)
        start = time.perf_counter()
        await one.apply_local(kill)
        await eventually(lambda: two.check(s) == kill, within=1.0, interval=0.001)
        print(f"redis_kill_propagation_ms={(time.perf_counter() - start) * 1000:.1f}")
        assert [i.session_id for i in await two.sessions(killed=True)] == [s]

        # A replica started later loads the mirrored kill state.
        async with EnforcementService(settings) as three:
            assert three.check(s) == kill
            info = await three.session(s)
            assert info is not None and info.killed and info.requests == 2

        resume = command(s, "resume")
        await two.apply_local(resume)
        await eventually(lambda: one.check(s) is None, within=1.0, interval=0.001)


async def test_follower_survives_a_broker_restart(broker_factory) -> None:  # type: ignore[no-untyped-def]
    """The Tansu broker keeps topics in memory: a restart loses them; kills must flow again."""
    first = broker_factory(None)
    kafka = KafkaSettings(bootstrap_servers=first.address, topic_prefix="restart.", partitions=1)
    await ensure_topics(kafka)
    s = sid()
    async with EnforcementService(proxy_settings(kafka)) as service:
        first.kill()  # stop() waits out a graceful-term timeout; a crash is the point here
        second = broker_factory(int(first.address.rsplit(":", 1)[1]))
        await ensure_topics(kafka)
        p = AIOKafkaProducer(acks="all", **kafka.client_kwargs())  # type: ignore[arg-type]
        await p.start()
        try:
            await send(p, kafka, command(s))
            took = await eventually(lambda: service.check(s) is not None, within=20.0)
            print(f"kill_after_broker_restart_s={took:.2f}")
        finally:
            await p.stop()
            second.kill()


async def test_unreachable_broker_refuses_start_or_degrades_then_recovers(
    broker_factory,  # type: ignore[no-untyped-def]
) -> None:
    port = free_port()
    kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}", topic_prefix="late.")
    strict = ProxySettings(kafka=kafka, enforcement_replay_timeout_s=1.0)
    started = time.perf_counter()
    with pytest.raises(ReplayTimeout, match="unreachable"):
        await EnforcementService(strict).start()
    assert time.perf_counter() - started < 5

    lenient = strict.model_copy(update={"enforcement_replay_required": False})
    async with EnforcementService(lenient) as service:
        s = sid()
        assert service.check(s) is None
        assert (await service.stats())["following"] is False
        broker = broker_factory(port)
        try:
            await ensure_topics(kafka)
            p = AIOKafkaProducer(acks="all", **kafka.client_kwargs())  # type: ignore[arg-type]
            await p.start()
            try:
                await send(p, kafka, command(s))
                await eventually(lambda: service.check(s) is not None, within=15.0)
            finally:
                await p.stop()
            assert (await service.stats())["following"] is True
        finally:
            broker.kill()
