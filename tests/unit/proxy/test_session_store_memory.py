from __future__ import annotations

from datetime import UTC, datetime, timedelta

from proxy.enforcement.memory_store import MemorySessionStore
from tests.support.session_events import CLIENT_IP, KEY_FP, llm_request, llm_response
from tests.support.session_store_contract import (
    check_newest_command_wins,
    check_query_filters,
    check_violation_counts_once,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


async def test_counts_tokens_errors_and_metadata() -> None:
    store = MemorySessionStore()
    await store.record(
        [
            llm_request("s1", T0),
            llm_response("s1", T0, input_tokens=10, output_tokens=5, total_tokens=15),
            llm_request("s1", T0 + timedelta(seconds=5)),
            llm_response("s1", T0 + timedelta(seconds=6), status=502, outcome="unreachable"),
        ]
    )
    info = await store.get("s1")
    assert info is not None
    assert (info.requests, info.responses, info.errors) == (2, 2, 1)
    assert (info.input_tokens, info.output_tokens, info.total_tokens) == (10, 5, 15)
    assert info.first_seen == T0 and info.last_seen == T0 + timedelta(seconds=6)
    assert (info.backend, info.model, info.client_ip) == ("openai", "gpt-x", CLIENT_IP)
    assert info.api_key_fingerprint == KEY_FP
    assert await store.get("nobody") is None


async def test_violation_counts_once_per_event_id() -> None:
    store = MemorySessionStore()
    await check_violation_counts_once(store, store, T0)


async def test_command_mirror_keeps_the_newest() -> None:
    await check_newest_command_wins(MemorySessionStore(), T0)


async def test_query_filters_and_orders_by_last_seen() -> None:
    await check_query_filters(MemorySessionStore(), T0)


async def test_least_recently_seen_session_is_evicted() -> None:
    store = MemorySessionStore(max_sessions=2)
    await store.record([llm_request("a", T0), llm_request("b", T0)])
    await store.record([llm_request("a", T0)])  # touch a: b is now the least recently seen
    await store.record([llm_request("c", T0)])
    assert await store.count() == 2
    assert await store.get("b") is None
    assert await store.get("a") is not None
