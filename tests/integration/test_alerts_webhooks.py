"""The alerts service against a real broker and real HTTP receivers.

A violation and a kill published to the topics reach a JSON, an OCSF and a Slack
receiver, signed; a receiver answering 500 is retried, then dead-lettered, and the
others are not held up; the offsets are committed once everything is settled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from multidict import CIMultiDict

from modeltrail.embedded.process import free_port
from schemas.codec import decode, encode, encode_key
from schemas.events import DeadLetter, SessionCommand, Violation
from schemas.settings import KafkaSettings
from streams.alerts.service import AlertService
from streams.alerts.settings import AlertsSettings, WebhookSpec
from streams.alerts.signing import SIGNATURE_HEADER, verify
from tests.support.polling import wait_until

SECRET = "whsec-test"


@dataclass
class Receiver:
    """A real HTTP server recording what it is sent; `status` is what it answers."""

    status: int = 200
    received: dict[str, list[tuple[CIMultiDict[str], bytes]]] = field(default_factory=dict)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.setdefault(request.path, []).append((request.headers.copy(), body))
        status = 500 if request.path == "/fail" else self.status
        return web.Response(status=status, text="ok")

    def bodies(self, path: str) -> list[dict[str, object]]:
        return [orjson.loads(b) for _, b in self.received.get(path, [])]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/{name}", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield rec, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def _publish(kafka: KafkaSettings, *events: Violation | SessionCommand) -> None:
    producer = AIOKafkaProducer(acks="all", **kafka.client_kwargs())  # type: ignore[arg-type]
    await producer.start()
    try:
        for e in events:
            await producer.send_and_wait(kafka.topics.for_event(e), encode(e), key=encode_key(e))
    finally:
        await producer.stop()


async def _dead_letters(kafka: KafkaSettings, want: int) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(
        kafka.topics.deadletter,
        auto_offset_reset="earliest",
        **kafka.client_kwargs(),  # type: ignore[arg-type]
    )
    await consumer.start()
    out: list[DeadLetter] = []
    try:
        deadline = time.monotonic() + 15
        while len(out) < want and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                out.extend(decode(r.value) for r in records if r.value)  # type: ignore[misc]
    finally:
        await consumer.stop()
    return out


async def test_violation_and_kill_reach_every_format_signed_and_failures_dead_letter(
    kafka_settings: KafkaSettings, receiver: tuple[Receiver, str]
) -> None:
    rec, base = receiver
    hooks = [
        WebhookSpec(name="json", url=f"{base}/json", format="json", secret=SECRET),
        WebhookSpec(name="ocsf", url=f"{base}/ocsf", format="ocsf", secret=SECRET),
        WebhookSpec(name="slack", url=f"{base}/slack", format="slack"),
        WebhookSpec(name="fail", url=f"{base}/fail", max_attempts=3, backoff_s=0.05),
    ]
    settings = AlertsSettings(
        kafka=kafka_settings,
        group_id=f"alerts-{kafka_settings.topic_prefix}",
        webhooks=hooks,
        allow_hosts=["127.0.0.1"],
        throttle_s=60,
    )
    violation = Violation(
        source="streams-1",
        session_id="victim",
        rule_id="PI-001",
        owasp="LLM01",
        severity="critical",
        action="kill",
        enforced=True,
        target="request",
    )
    repeat = violation.model_copy(update={"event_id": "0199-repeat", "rule_id": "JB-001"})
    kill = SessionCommand(
        source="streams-1",
        session_id="victim",
        command="kill",
        block_mode="permanent",
        reason="risk",
        issuer="streams-1",
        decision_id="d-1",
    )
    await _publish(kafka_settings, violation, repeat, kill)
    service = AlertService(settings)
    task = asyncio.create_task(service.run())
    try:
        await wait_until(
            lambda: (
                len(rec.received.get("/json", [])) >= 2
                and len(rec.received.get("/ocsf", [])) >= 1
                and len(rec.received.get("/slack", [])) >= 2
                and len(rec.received.get("/fail", [])) >= 6
            ),
            timeout_s=20,
            what="every webhook reached",
        )
        letters = await _dead_letters(kafka_settings, want=2)
    finally:
        service.stop()
        await asyncio.wait_for(task, 15)

    # JSON: the violation (the repeat on the same session is throttled) and the kill, signed.
    json_bodies = rec.bodies("/json")
    assert {b["type"] for b in json_bodies} == {"audit.violation.v1", "session.command.v1"}
    assert len(json_bodies) == 2
    for headers, body in rec.received["/json"]:
        assert verify(SECRET.encode(), body, headers[SIGNATURE_HEADER], now=int(time.time()))
        assert headers["Idempotency-Key"] in (violation.event_id, kill.event_id)
    # OCSF gets the finding only.
    (finding,) = rec.bodies("/ocsf")
    assert finding["class_uid"] == 2004 and finding["severity_id"] == 5
    assert finding["finding_info"]["uid"] == violation.event_id  # type: ignore[index]
    # Slack: blocks, no signature configured.
    assert all("blocks" in b for b in rec.bodies("/slack"))
    assert SIGNATURE_HEADER not in rec.received["/slack"][0][0]
    # The failing receiver: 3 attempts per event, then a dead letter each.
    assert len(rec.received["/fail"]) == 6
    fails = [d for d in letters if d.consumer == "alerts:fail"]
    assert len(fails) == 2 and all("HTTP 500" in d.reason for d in fails)
    # Everything settled, so everything is committed.
    assert service.tracker.outstanding() == 0
    probe = AIOKafkaConsumer(
        group_id=settings.group_id,
        **kafka_settings.client_kwargs(),  # type: ignore[arg-type]
    )
    await probe.start()
    try:
        committed = [
            await probe.committed(TopicPartition(kafka_settings.topics.violations, p))
            for p in range(kafka_settings.partitions)
        ]
    finally:
        await probe.stop()
    assert sum(c or 0 for c in committed) == 2


async def test_a_timing_out_receiver_does_not_hold_up_the_others(
    kafka_settings: KafkaSettings, receiver: tuple[Receiver, str]
) -> None:
    rec, base = receiver
    slow_port = free_port()
    # A TCP server that accepts and never answers: every attempt times out.
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", slow_port)
    settings = AlertsSettings(
        kafka=kafka_settings,
        group_id=f"alerts-{kafka_settings.topic_prefix}",
        webhooks=[
            WebhookSpec(
                name="slow",
                url=f"http://127.0.0.1:{slow_port}/hook",
                timeout_s=0.3,
                max_attempts=2,
                backoff_s=0.05,
            ),
            WebhookSpec(name="fast", url=f"{base}/fast"),
        ],
        allow_hosts=["127.0.0.1"],
        throttle_s=0,
    )
    events = [
        Violation(
            source="s",
            session_id=f"s{i}",
            rule_id="LK-001",
            owasp="LLM07",
            severity="high",
            action="flag",
            enforced=True,
            target="request",
        )
        for i in range(5)
    ]
    await _publish(kafka_settings, *events)
    service = AlertService(settings)
    task = asyncio.create_task(service.run())
    try:
        await wait_until(
            lambda: len(rec.received.get("/fast", [])) == 5, timeout_s=15, what="fast receiver"
        )
        # The slow webhook needs 5 events x 2 attempts x 0.3 s: it is still busy when
        # the fast one has everything (it would be done first if they were serialised).
        slow = next(w for w in service.workers if w.spec.name == "slow")
        assert slow.dead_lettered < 5
        letters = await _dead_letters(kafka_settings, want=5)
    finally:
        service.stop()
        await asyncio.wait_for(task, 15)
        server.close()
    assert sum(1 for d in letters if d.consumer == "alerts:slow") == 5
    assert all("timed out" in d.reason for d in letters if d.consumer == "alerts:slow")


def test_a_webhook_to_the_metadata_service_is_refused_at_start() -> None:
    from streams.alerts.errors import WebhookRefused

    with pytest.raises(WebhookRefused):
        AlertService(
            AlertsSettings(
                webhooks=[WebhookSpec(name="x", url="http://169.254.169.254/latest/meta-data")]
            )
        )
