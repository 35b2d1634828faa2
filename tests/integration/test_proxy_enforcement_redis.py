"""RedisSessionStore against a real Redis: atomic counters, idempotent flags, newest-wins kills."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from modeltrail.embedded.process import free_port
from proxy.enforcement import RedisSessionStore, StoreError
from schemas.events import LLMRequest, LLMResponse, SessionCommand, Violation
from schemas.ids import uuid7

T0 = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    p = f"test:{uuid.uuid4().hex[:10]}:"
    yield p
    client = aioredis.Redis.from_url(redis_url)
    keys = [k async for k in client.scan_iter(match=f"{p}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def request(sid: str, at: datetime, backend: str = "openai") -> LLMRequest:
    return LLMRequest(
        source="p",
        session_id=sid,
        time=at,
        backend=backend,
        provider="openai",
        path="/v1/chat/completions",
        model="gpt-x",
        client_ip="10.0.0.7",
        api_key_fingerprint="fp_00aa",
    )


def response(sid: str, at: datetime, status: int = 200) -> LLMResponse:
    return LLMResponse(
        source="p",
        session_id=sid,
        time=at,
        backend="openai",
        provider="openai",
        path="/v1/chat/completions",
        status_code=status,
        latency_ms=2.0,
        input_tokens=3,
        output_tokens=4,
    )


def violation(sid: str, event_id: str) -> Violation:
    return Violation(
        event_id=event_id,
        source="w",
        session_id=sid,
        time=T0,
        rule_id="pii.iban",
        owasp="LLM02",
        severity="high",
        action="flag",
        enforced=True,
        target="response",
    )


async def test_counters_are_atomic_across_stores(redis_url: str, prefix: str) -> None:
    one, two = (
        RedisSessionStore(redis_url, key_prefix=prefix),
        RedisSessionStore(redis_url, key_prefix=prefix),
    )
    await one.start()
    await two.start()
    try:
        batches = [[request("s1", T0), response("s1", T0 + timedelta(seconds=1))]] * 20
        await asyncio.gather(
            *(store.record(b) for b in batches for store in (one, two)),
        )
        await one.record([response("s1", T0 + timedelta(seconds=2), status=500)])
        info = await two.get("s1")
        assert info is not None
        assert (info.requests, info.responses, info.errors) == (40, 41, 1)
        assert (info.input_tokens, info.output_tokens, info.total_tokens) == (123, 164, 287)
        assert info.first_seen == T0 and info.last_seen == T0 + timedelta(seconds=2)
        assert (info.model, info.client_ip, info.api_key_fingerprint) == (
            "gpt-x",
            "10.0.0.7",
            "fp_00aa",
        )

        # the same violation seen by both replicas counts once
        assert await one.flag(violation("s1", "v1"))
        assert not await two.flag(violation("s1", "v1"))
        assert await two.flag(violation("s1", "v2"))
        info = await one.get("s1")
        assert info is not None and info.flagged and info.violations == 2
    finally:
        await one.stop()
        await two.stop()


async def test_query_filters(redis_url: str, prefix: str) -> None:
    store = RedisSessionStore(redis_url, key_prefix=prefix)
    await store.start()
    try:
        await store.record(
            [
                request("old", T0 - timedelta(hours=3)),
                request("a", T0, backend="anthropic"),
                request("b", T0 + timedelta(seconds=1)),
            ]
        )
        await store.flag(violation("a", "v1"))
        assert [s.session_id for s in await store.query()] == ["b", "a", "old"]
        assert [s.session_id for s in await store.query(limit=2)] == ["b", "a"]
        assert [s.session_id for s in await store.query(flagged=True)] == ["a"]
        assert [s.session_id for s in await store.query(flagged=False)] == ["b", "old"]
        assert [s.session_id for s in await store.query(backend="anthropic")] == ["a"]
        since = T0 - timedelta(hours=1)
        assert [s.session_id for s in await store.query(since=since)] == ["b", "a"]
        assert await store.count() == 3 and await store.count(since=since) == 2
        assert await store.get("nobody") is None
    finally:
        await store.stop()


async def test_commands_newest_wins_and_reach_subscribers(redis_url: str, prefix: str) -> None:
    heard: list[SessionCommand] = []
    arrived = asyncio.Event()

    def hear(cmd: SessionCommand) -> None:
        heard.append(cmd)
        arrived.set()

    listener = RedisSessionStore(redis_url, key_prefix=prefix)
    writer = RedisSessionStore(redis_url, key_prefix=prefix)
    await listener.start(on_command=hear)
    await writer.start()
    try:
        kill = SessionCommand(
            source="t",
            session_id="s1",
            time=T0,
            command="kill",
            block_mode="permanent",
            issuer="t",
            decision_id=uuid7(),
        )
        resume = SessionCommand(
            source="t",
            session_id="s1",
            time=T0 + timedelta(seconds=1),
            command="resume",
            issuer="t",
            decision_id=uuid7(),
        )
        assert await writer.save_command(resume)
        assert not await writer.save_command(kill)  # older: ignored, not broadcast
        assert await listener.commands() == [resume]
        await asyncio.wait_for(arrived.wait(), timeout=2)
        await asyncio.sleep(0.05)  # a second (older) broadcast would have arrived by now
        assert heard == [resume]
    finally:
        await listener.stop()
        await writer.stop()


async def test_unreachable_redis_is_a_store_error() -> None:
    store = RedisSessionStore(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StoreError, match="not reachable"):
        await store.start()
