"""Issue 10: after the embedded broker restarts, the streams worker's rate-limit kill is
still enforced by the proxy.

Real broker (restarted empty on the same port), real `python -m streams` worker, the
proxy served by uvicorn in this process, the fake backend. Before the fix the proxy's
command follower kept its old offsets and never saw the kill the worker published at
offset 0 of the new broker: every request went through.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer

from modeltrail.embedded.process import ManagedProcess
from modeltrail.embedded.servers import BrokerProcess
from proxy.emitter import build_emitter
from proxy.enforcement import EnforcementService
from schemas.codec import encode, encode_key
from schemas.events import SessionCommand
from schemas.kafka import ensure_topics
from schemas.settings import KafkaSettings
from tests.integration.test_streams_worker import worker_factory  # noqa: F401 - the fixture
from tests.support.polling import wait_until
from tests.support.proxy_harness import make_settings, running_proxy
from tests.support.session_events import command

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]}
BrokerFactory = Callable[[int | None], BrokerProcess]


async def _until_killed(client: httpx.AsyncClient, url: str, session: str, limit: int) -> int:
    """Send requests in one session until one is refused with 403; return how many passed."""
    for i in range(limit):
        resp = await client.post(url, json=CHAT, headers={"x-session-id": session})
        if resp.status_code == 403:
            return i
        assert resp.status_code == 200, resp.text
    for _ in range(100):  # the kill may still be on its way: give it a moment
        await asyncio.sleep(0.1)
        resp = await client.post(url, json=CHAT, headers={"x-session-id": session})
        if resp.status_code == 403:
            return limit
    raise AssertionError(f"session {session} never killed after {limit} requests")


async def _send_commands(kafka: KafkaSettings, commands: list[SessionCommand]) -> None:
    producer = AIOKafkaProducer(acks="all", **kafka.client_kwargs())  # type: ignore[arg-type]
    await producer.start()
    try:
        for cmd in commands:
            await producer.send_and_wait(kafka.topics.commands, encode(cmd), key=encode_key(cmd))
    finally:
        await producer.stop()


async def test_rate_limit_kill_is_enforced_after_a_broker_restart(
    broker_factory: BrokerFactory,
    worker_factory: Callable[..., ManagedProcess],  # noqa: F811
    fake_backend_url: str,
    tmp_path: Path,
) -> None:
    broker = broker_factory(None)
    address = broker.address
    kafka = KafkaSettings(bootstrap_servers=address, topic_prefix=f"t{uuid.uuid4().hex[:10]}.")
    await ensure_topics(kafka)
    settings = make_settings(
        kafka, fake_backend_url, tmp_path / "spool", inline_policy=False, emit_timeout_ms=1500
    )
    app_id = f"app-{uuid.uuid4().hex[:8]}"
    worker = worker_factory(
        app_id, bootstrap=address, MODELTRAIL_KAFKA__TOPIC_PREFIX=kafka.topic_prefix
    )
    emitter = build_emitter(settings)
    enforcement = EnforcementService(settings, publisher=emitter)
    async with (
        running_proxy(settings, enforcement=enforcement, publisher=emitter) as proxy,
        httpx.AsyncClient(timeout=10) as client,
    ):
        url = proxy.url + "/v1/chat/completions"
        assert await _until_killed(client, url, "before-restart", 400) > 100
        # Commands on every partition: the follower's positions are all past 0.
        await _send_commands(kafka, [command(f"other-{i}", "resume") for i in range(12)])

        port = broker.port
        broker.stop()
        broker_factory(port)  # empty: topics, offsets and kills are gone
        await ensure_topics(kafka)
        # The faust worker does not recreate its changelog on a new broker: it is
        # restarted (as `modeltrail up` restarts a part); the proxy keeps running.
        worker.stop()
        worker_factory(app_id, bootstrap=address, MODELTRAIL_KAFKA__TOPIC_PREFIX=kafka.topic_prefix)
        await wait_until(lambda: emitter.healthy, 30, "the emitter to reconnect")
        passed = await _until_killed(client, url, "after-restart", 400)
        assert passed > 100  # the rule's limit, not a stale kill
        # the follower may read the new log before its next reset check (every 2 s)
        await wait_until(lambda: enforcement.resets >= 1, 10, "the reset to be noticed")
