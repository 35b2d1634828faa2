"""A broker that restarts empty (the embedded memory broker) must not blind the followers.

The command follower notices the reset (offsets went back, or the topic came back
empty) and reads the new incarnation from its beginning, so a kill published on
the new broker at offset 0 is enforced. Operator kills survive in the local
command journal (or Redis) and are published again to the new broker.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from modeltrail.embedded.servers import BrokerProcess
from proxy.emitter import build_emitter
from proxy.enforcement import EnforcementService
from proxy.settings import ProxySettings
from schemas.codec import encode, encode_key
from schemas.events import EventEnvelope
from schemas.kafka import ensure_topics
from schemas.settings import KafkaSettings, RedisSettings
from tests.support.polling import wait_until
from tests.support.session_events import command

BrokerFactory = Callable[[int | None], BrokerProcess]


async def _send(kafka: KafkaSettings, *events: EventEnvelope) -> None:
    producer = AIOKafkaProducer(acks="all", **kafka.client_kwargs())  # type: ignore[arg-type]
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                kafka.topics.for_event(event), encode(event), key=encode_key(event)
            )
    finally:
        await producer.stop()


def _settings(broker: BrokerProcess, **kw: object) -> ProxySettings:
    kafka = KafkaSettings(
        bootstrap_servers=broker.address,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
    )
    return ProxySettings(kafka=kafka, enforcement_replay_timeout_s=20, **kw)  # type: ignore[arg-type]


def _restart(broker: BrokerProcess, broker_factory: BrokerFactory) -> BrokerProcess:
    port = broker.port
    broker.stop()
    return broker_factory(port)  # a new, empty broker on the same address


async def test_a_kill_published_after_a_broker_restart_is_enforced(
    broker_factory: BrokerFactory,
) -> None:
    broker = broker_factory(None)
    settings = _settings(broker)
    kafka = settings.kafka
    await ensure_topics(kafka)
    # Some history: the follower's position is well past 0 when the broker dies.
    await _send(kafka, *(command(f"old-{i}", "resume") for i in range(6)))
    async with EnforcementService(settings) as enforcement:
        await wait_until(lambda: enforcement.counters["commands"] >= 6, 10, "history")
        _restart(broker, broker_factory)
        await ensure_topics(kafka)
        kill = command("victim")  # offset 0 of the new incarnation
        await _send(kafka, kill)
        await wait_until(
            lambda: enforcement.check("victim") is not None, 20, "the kill to be enforced"
        )
        assert enforcement.resets >= 1


async def test_operator_kills_are_kept_and_republished_after_a_reset(
    broker_factory: BrokerFactory, tmp_path: Path
) -> None:
    await _kept_and_republished(
        broker_factory, tmp_path, {"command_journal": tmp_path / "commands.journal"}
    )


async def test_operator_kills_kept_in_redis_are_republished_after_a_reset(
    broker_factory: BrokerFactory, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    redis = RedisSettings(url=SecretStr(redis_url), key_prefix=redis_prefix)
    await _kept_and_republished(
        broker_factory, tmp_path, {"session_store": "redis", "redis": redis}
    )


async def _kept_and_republished(
    broker_factory: BrokerFactory, tmp_path: Path, keep: dict[str, object]
) -> None:
    broker = broker_factory(None)
    settings = _settings(broker, spool_dir=tmp_path / "spool", **keep)
    kafka = settings.kafka
    await ensure_topics(kafka)
    await _send(kafka, command("filler", "resume"))
    kill = command("operator-kill")
    emitter = build_emitter(settings)
    await emitter.start()
    try:
        async with EnforcementService(settings, publisher=emitter) as enforcement:
            await enforcement.apply_local(kill)  # what the control API does, then publishes
            await emitter.send(kill)
            await wait_until(lambda: enforcement.counters["commands"] >= 2, 10, "the kill")
            _restart(broker, broker_factory)
            await ensure_topics(kafka)
            await _send(kafka, command("filler-2", "resume"))
            await wait_until(lambda: enforcement.resets >= 1, 20, "the reset to be noticed")
            # Both followers notice the reset, each on its own; the commands follower
            # republishes once it read the kept commands (from Redis: a round trip later).
            await wait_until(lambda: enforcement.republished >= 1, 10, "the kill republished")
            assert enforcement.republished == 1
    finally:
        await emitter.stop()
    # The new broker has the operator kill again: a replica started now enforces it.
    other = settings.model_copy(update={"command_journal": None, "session_store": "memory"})
    async with EnforcementService(other) as fresh:
        assert fresh.check("operator-kill") is not None
        assert fresh.check("filler-2") is None


async def test_operator_kills_survive_a_restart_of_everything_in_the_journal(
    broker_factory: BrokerFactory, tmp_path: Path
) -> None:
    broker = broker_factory(None)
    journal = tmp_path / "commands.journal"
    settings = _settings(broker, command_journal=journal)
    kafka = settings.kafka
    await ensure_topics(kafka)
    kill = command("kept")
    async with EnforcementService(settings) as enforcement:
        await enforcement.apply_local(kill)
    _restart(broker, broker_factory)
    await ensure_topics(kafka)
    async with EnforcementService(settings) as enforcement:
        assert enforcement.check("kept") is not None  # from the journal, broker empty
        resume = command("kept", "resume")
        await enforcement.apply_local(resume)
    async with EnforcementService(settings) as enforcement:
        assert enforcement.check("kept") is None  # the resume is journaled too
