"""Kill enforcement against the real broker and a real Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta

import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from modeltrail.embedded.process import free_port
from proxy.enforcement import EnforcementService, ReplayTimeout
from proxy.metrics import ProxyMetrics
from proxy.settings import ProxySettings
from schemas.codec import encode, encode_key
from schemas.events import (
    DeadLetter,
    EventEnvelope,
    LLMRequest,
    LLMResponse,
    SessionCommand,
    Violation,
    utcnow,
)
from schemas.kafka import ensure_topics
from schemas.settings import KafkaSettings, RedisSettings
from schemas.signing import CommandSigner
from tests.support.polling import wait_until
from tests.support.session_events import command, violation


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


def sid() -> str:
    return f"s-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def producer(kafka_settings: KafkaSettings) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(acks="all", linger_ms=0, **kafka_settings.client_kwargs())  # type: ignore[arg-type]
    await p.start()
    yield p
    await p.stop()


async def send(producer: AIOKafkaProducer, kafka: KafkaSettings, event: EventEnvelope) -> None:
    topic = kafka.topics.for_event(event)
    await producer.send_and_wait(topic, encode(event), key=encode_key(event))


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
            await wait_until(lambda kill=kill: service.check(victim) == kill, interval_s=0.001)
            latencies.append(time.perf_counter() - start)
            await send(producer, kafka_settings, command(victim, "resume"))
            await wait_until(lambda: service.check(victim) is None, interval_s=0.001)
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
    await send(
        producer,
        kafka_settings,
        command(expired, mode="duration", expires_at=utcnow() + timedelta(milliseconds=1)),
    )
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
        await send(
            producer,
            kafka_settings,
            command(a, mode="duration", expires_at=utcnow() + timedelta(seconds=1)),
        )
        await send(producer, kafka_settings, command(b))
        await wait_until(
            lambda: service.check(a) is not None and service.check(b) is not None, interval_s=0.01
        )
        took = await wait_until(lambda: service.check(a) is None, timeout_s=3.0, interval_s=0.01)
        assert 0.3 < took < 1.5
        assert service.check(b) is not None
        await send(producer, kafka_settings, command(b, "resume"))
        await wait_until(lambda: service.check(b) is None, interval_s=0.01)


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

        await wait_until(flagged, interval_s=0.01)
        await wait_until(lambda: bool(letters.events), interval_s=0.01)
        [letter] = letters.events
        assert isinstance(letter, DeadLetter) and letter.topic == kafka_settings.topics.commands
        assert (letter.session_id, letter.key, letter.value_excerpt) == (s, s, "{not json")
        assert [i.session_id for i in await service.sessions(flagged=True)] == [s]
        # the follower survived the poison record
        await send(producer, kafka_settings, command(s))
        await wait_until(lambda: service.check(s) is not None, interval_s=0.01)


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
    kafka_settings: KafkaSettings, redis_url: str, redis_prefix: str
) -> None:
    settings = proxy_settings(kafka_settings, redis_url, redis_prefix)
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
        await wait_until(lambda: two.check(s) == kill, timeout_s=1.0, interval_s=0.001)
        print(f"redis_kill_propagation_ms={(time.perf_counter() - start) * 1000:.1f}")
        assert [i.session_id for i in await two.sessions(killed=True)] == [s]

        # A replica started later loads the mirrored kill state.
        async with EnforcementService(settings) as three:
            assert three.check(s) == kill
            info = await three.session(s)
            assert info is not None and info.killed and info.requests == 2

        resume = command(s, "resume")
        await two.apply_local(resume)
        await wait_until(lambda: one.check(s) is None, timeout_s=1.0, interval_s=0.001)


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
            took = await wait_until(
                lambda: service.check(s) is not None, timeout_s=20.0, interval_s=0.01
            )
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
                await wait_until(
                    lambda: service.check(s) is not None, timeout_s=15.0, interval_s=0.01
                )
            finally:
                await p.stop()
            assert (await service.stats())["following"] is True
        finally:
            broker.kill()


async def test_violations_from_the_look_back_flag_sessions_at_start(
    kafka_settings: KafkaSettings, producer: AIOKafkaProducer
) -> None:
    recent, stale = sid(), sid()
    topic = kafka_settings.topics.violations
    lookback_s = 3600.0
    old_ms = int((time.time() - 2 * lookback_s) * 1000)
    for s, ts_ms in ((stale, old_ms), (recent, None), (recent, None)):
        v = violation(s, f"v-{s}", utcnow())  # same event id twice: redelivered, counted once
        await producer.send_and_wait(topic, encode(v), key=encode_key(v), timestamp_ms=ts_ms)
    settings = proxy_settings(kafka_settings).model_copy(
        update={"violations_lookback_s": lookback_s}
    )
    async with EnforcementService(settings) as service:
        await service.flush()  # the replay finished inside start(); its writes are queued
        info = await service.session(recent)
        assert info is not None and info.flagged and info.violations == 1
        assert await service.session(stale) is None  # older than the look-back
        assert [i.session_id for i in await service.sessions(flagged=True)] == [recent]
    live_only = settings.model_copy(update={"violations_lookback_s": 0.0})
    async with EnforcementService(live_only) as service:
        await service.flush()
        assert await service.session(recent) is None


async def test_replayed_violations_count_once_across_restarts_with_redis(
    kafka_settings: KafkaSettings, producer: AIOKafkaProducer, redis_url: str, redis_prefix: str
) -> None:
    s = sid()
    v = violation(s, f"v-{s}", utcnow())
    await send(producer, kafka_settings, v)
    settings = proxy_settings(kafka_settings, redis_url, redis_prefix)
    for _ in range(2):  # the second start replays the same violation: the store dedupes it
        async with EnforcementService(settings) as service:
            await service.flush()
            info = await service.session(s)
            assert info is not None and info.flagged and info.violations == 1


def forgeries(victim: str) -> list[SessionCommand]:
    """An attacker's resumes: unsigned, signed with a key of their own, a signed one altered."""
    theirs = CommandSigner((("k-attacker", b"attacker-chosen-key-0123"),))
    return [
        command(victim, "resume", signed=False),
        theirs.sign(command(victim, "resume", signed=False)),
        command(sid(), "resume").model_copy(update={"session_id": victim}),
    ]


async def test_unsigned_or_forged_commands_on_kafka_are_ignored_and_counted(
    kafka_settings: KafkaSettings, producer: AIOKafkaProducer
) -> None:
    victim, marker = sid(), sid()
    metrics = ProxyMetrics()
    async with EnforcementService(proxy_settings(kafka_settings), metrics=metrics) as service:
        await send(producer, kafka_settings, command(victim))
        await wait_until(lambda: service.check(victim) is not None, interval_s=0.005)
        for forged in forgeries(victim):
            await send(producer, kafka_settings, forged)
        await send(producer, kafka_settings, command(marker))  # read after the forgeries
        await wait_until(lambda: service.check(marker) is not None, interval_s=0.005)
        assert service.check(victim) is not None  # still killed
        assert service.counters["commands_rejected"] == 3
        rejected = {
            s.labels["reason"]: s.value
            for m in metrics.registry.collect()
            if m.name == "modeltrail_proxy_commands_rejected"
            for s in m.samples
            if s.name.endswith("_total")
        }
        assert rejected == {"unsigned": 1.0, "unknown_key": 1.0, "bad_signature": 1.0}


async def test_forged_commands_in_the_redis_mirror_are_ignored(
    kafka_settings: KafkaSettings, redis_url: str, redis_prefix: str
) -> None:
    settings = proxy_settings(kafka_settings, redis_url, redis_prefix)
    victim, bystander = sid(), sid()
    async with EnforcementService(settings) as one, EnforcementService(settings) as two:
        await one.apply_local(command(victim))
        await wait_until(lambda: two.check(victim) is not None, timeout_s=1.0, interval_s=0.001)
        # Someone with Redis access resumes the victim and kills a bystander, unsigned.
        for forged in forgeries(victim):
            await one.store.save_command(forged)
        await one.store.save_command(command(bystander, signed=False))
        await wait_until(lambda: two.counters["commands_rejected"] >= 2, timeout_s=2.0)
        assert two.check(victim) is not None and two.check(bystander) is None
        async with EnforcementService(settings) as late:  # loads the mirror at start
            assert late.check(bystander) is None
            assert late.counters["commands_rejected"] >= 1


class Republished:
    """Collects what the service publishes (the emitter's `publish`)."""

    def __init__(self) -> None:
        self.events: list[EventEnvelope] = []

    def publish(self, event: EventEnvelope) -> bool:
        self.events.append(event)
        return True


async def test_tombstones_forget_ended_kills_and_restore_live_ones(
    kafka_settings: KafkaSettings, producer: AIOKafkaProducer
) -> None:
    ended, live = sid(), sid()
    topic = kafka_settings.topics.commands
    out = Republished()
    async with EnforcementService(proxy_settings(kafka_settings), publisher=out) as service:
        await send(producer, kafka_settings, command(ended))
        await send(producer, kafka_settings, command(ended, "resume"))
        kill = command(live)
        await send(producer, kafka_settings, kill)
        await producer.send_and_wait(topic, None, key=ended.encode())
        await producer.send_and_wait(topic, None, key=live.encode())  # a forged deletion
        await wait_until(lambda: bool(out.events), timeout_s=5.0)
        assert out.events == [kill]  # the live kill is put back for later replicas
        assert service.check(live) == kill and service.check(ended) is None
        assert service.counters["commands_rejected"] == 0
        assert len(service.registry) == 1
