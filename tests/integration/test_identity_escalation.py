"""The streams worker (a real process) escalates: three sessions of one key killed -> key kill."""

from __future__ import annotations

from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from modeltrail.embedded.process import ManagedProcess
from schemas.codec import encode
from schemas.events import ChatMessage, LLMRequest, SessionCommand
from schemas.settings import KafkaSettings
from streams.escalation import ESCALATION_RULE_ID
from tests.integration.test_streams_worker import AWS_KEY, PRIVATE_KEY, Tail, worker_factory  # noqa: F401  (fixture)

KEY_ID = "mk_00112233445566ff"


def _attack(session: str, text: str) -> LLMRequest:
    return LLMRequest(
        source="proxy-it",
        session_id=f"{KEY_ID}:{session}",
        backend="fake",
        provider="openai",
        path="/v1/chat/completions",
        messages=[ChatMessage(role="user", content=text)],
        key_id=KEY_ID,
        team="red",
        user="eve",
    )


async def test_three_killed_sessions_kill_the_key(
    kafka_settings: KafkaSettings,
    worker_factory: Callable[..., ManagedProcess],  # noqa: F811
) -> None:
    topics = kafka_settings.topics
    worker_factory(f"it-{kafka_settings.topic_prefix.strip('.')}")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for s in ("a", "b", "c"):  # two leaks each: over the session's risk threshold
            for text in (AWS_KEY, PRIVATE_KEY):
                event = _attack(s, text)
                await producer.send_and_wait(
                    topics.requests, encode(event), key=event.session_id.encode()
                )

        def commands() -> list[SessionCommand]:
            return [c for c in tail.events(topics.commands) if isinstance(c, SessionCommand)]

        tail = Tail(kafka_settings.bootstrap_servers, [topics.commands, topics.violations])
        async with tail:
            await tail.until(lambda: any(c.scope == "key" for c in commands()))
            sessions = [c for c in commands() if c.scope == "session"]
            assert len(sessions) == 3 and all(c.key_id == KEY_ID for c in sessions)
            keys = [c for c in commands() if c.scope == "key"]
            assert {c.decision_id for c in keys} and all(c.subject == KEY_ID for c in keys)
            kill = keys[0]
            assert (kill.session_id, kill.rule_id, kill.team, kill.user) == (
                f"key:{KEY_ID}",
                ESCALATION_RULE_ID,
                "red",
                "eve",
            )
            violations = tail.events(topics.violations)
            assert violations and all(getattr(v, "key_id", None) == KEY_ID for v in violations)
    finally:
        await producer.stop()
