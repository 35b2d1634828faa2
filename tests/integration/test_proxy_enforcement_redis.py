"""RedisSessionStore against a real Redis: atomic counters, idempotent flags, newest-wins kills."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from modeltrail.embedded.process import free_port
from proxy.enforcement import RedisSessionStore, SessionStoreError
from schemas.events import SessionCommand
from tests.support.session_events import CLIENT_IP, KEY_FP, command, llm_request, llm_response
from tests.support.session_store_contract import (
    check_newest_command_wins,
    check_query_filters,
    check_violation_counts_once,
)

T0 = datetime.now(UTC).replace(microsecond=0)


async def test_counters_are_atomic_across_stores(redis_url: str, redis_prefix: str) -> None:
    one, two = (
        RedisSessionStore(redis_url, key_prefix=redis_prefix),
        RedisSessionStore(redis_url, key_prefix=redis_prefix),
    )
    await one.start()
    await two.start()
    try:
        batches = [
            [
                llm_request("s1", T0),
                llm_response("s1", T0 + timedelta(seconds=1), input_tokens=3, output_tokens=4),
            ]
        ] * 20
        await asyncio.gather(
            *(store.record(b) for b in batches for store in (one, two)),
        )
        await one.record(
            [
                llm_response(
                    "s1", T0 + timedelta(seconds=2), status=500, input_tokens=3, output_tokens=4
                )
            ]
        )
        info = await two.get("s1")
        assert info is not None
        assert (info.requests, info.responses, info.errors) == (40, 41, 1)
        assert (info.input_tokens, info.output_tokens, info.total_tokens) == (123, 164, 287)
        assert info.first_seen == T0 and info.last_seen == T0 + timedelta(seconds=2)
        assert (info.model, info.client_ip, info.api_key_fingerprint) == (
            "gpt-x",
            CLIENT_IP,
            KEY_FP,
        )

        # the same violation seen by both replicas counts once
        await check_violation_counts_once(one, two, T0)
    finally:
        await one.stop()
        await two.stop()


async def test_query_filters(redis_url: str, redis_prefix: str) -> None:
    store = RedisSessionStore(redis_url, key_prefix=redis_prefix)
    await store.start()
    try:
        await check_query_filters(store, T0)
    finally:
        await store.stop()


async def test_commands_newest_wins_and_reach_subscribers(
    redis_url: str, redis_prefix: str
) -> None:
    heard: list[SessionCommand] = []
    arrived = asyncio.Event()

    def hear(cmd: SessionCommand) -> None:
        heard.append(cmd)
        arrived.set()

    listener = RedisSessionStore(redis_url, key_prefix=redis_prefix)
    writer = RedisSessionStore(redis_url, key_prefix=redis_prefix)
    await listener.start(on_command=hear)
    await writer.start()
    try:
        await check_newest_command_wins(writer, T0)  # the older one is ignored, not broadcast
        (newer,) = await listener.commands()
        assert (newer.command, newer.decision_id) == ("kill", "b")
        await asyncio.wait_for(arrived.wait(), timeout=2)
        await asyncio.sleep(0.05)  # a second (older) broadcast would have arrived by now
        assert heard == [newer]
    finally:
        await listener.stop()
        await writer.stop()


async def test_unreachable_redis_is_a_store_error() -> None:
    store = RedisSessionStore(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(SessionStoreError, match="not reachable"):
        await store.start()


async def test_kills_hash_is_pruned_of_resumed_and_expired_sessions(
    redis_url: str, redis_prefix: str
) -> None:
    store = RedisSessionStore(redis_url, key_prefix=redis_prefix, ttl_s=3600)
    await store.start()
    try:
        kills, order = f"{redis_prefix}kills", f"{redis_prefix}kills:order"
        past = T0 - timedelta(minutes=10)
        await store.save_command(command("resumed", at=past, decision_id="k1"))
        assert await store.save_command(command("resumed", "resume", past + timedelta(seconds=1)))
        # the resume left only its order: an older kill arriving late stays refused
        assert not await store.save_command(command("resumed", at=past, decision_id="k2"))
        expired_at = T0 - timedelta(minutes=1)
        await store.save_command(command("expired", at=past, mode="until", expires_at=expired_at))
        live = command("live", at=past, mode="duration", expires_at=T0 + timedelta(hours=1))
        await store.save_command(live)
        await store.save_command(command("permanent", at=past))
        # a tombstone older than the TTL goes at load time; a recent one stays
        ancient = T0 - timedelta(hours=2)
        await store.save_command(command("ancient", at=ancient, decision_id="k3"))
        await store.save_command(command("ancient", "resume", ancient + timedelta(seconds=1)))
        assert sorted(await store.redis.hkeys(kills)) == ["expired", "live", "permanent"]

        loaded = await store.commands(now=T0)
        assert sorted(c.session_id for c in loaded) == ["live", "permanent"]
        assert sorted(await store.redis.hkeys(kills)) == ["live", "permanent"]
        assert sorted(await store.redis.hkeys(order)) == ["expired", "live", "permanent", "resumed"]
    finally:
        await store.stop()
