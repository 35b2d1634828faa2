from __future__ import annotations

from datetime import UTC, datetime, timedelta

from proxy.enforcement.store import MemorySessionStore
from schemas.events import LLMRequest, LLMResponse, SessionCommand, Violation

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def req(sid: str, at: datetime = T0, backend: str = "openai", **kw: object) -> LLMRequest:
    return LLMRequest(
        source="t",
        session_id=sid,
        time=at,
        backend=backend,
        provider="openai",
        path="/v1/chat/completions",
        model="gpt-x",
        client_ip="10.0.0.1",
        api_key_fingerprint="fp_0123456789abcdef",
        **kw,  # type: ignore[arg-type]
    )


def resp(sid: str, at: datetime = T0, status: int = 200, **kw: object) -> LLMResponse:
    return LLMResponse(
        source="t",
        session_id=sid,
        time=at,
        backend="openai",
        provider="openai",
        path="/v1/chat/completions",
        status_code=status,
        latency_ms=3.0,
        **kw,  # type: ignore[arg-type]
    )


def violation(sid: str, event_id: str, rule: str = "pii.email") -> Violation:
    return Violation(
        event_id=event_id,
        source="streams",
        session_id=sid,
        time=T0,
        rule_id=rule,
        owasp="LLM02",
        severity="high",
        action="flag",
        enforced=True,
        target="request",
    )


async def test_counts_tokens_errors_and_metadata() -> None:
    store = MemorySessionStore()
    await store.record(
        [
            req("s1"),
            resp("s1", input_tokens=10, output_tokens=5, total_tokens=15),
            req("s1", at=T0 + timedelta(seconds=5)),
            resp("s1", at=T0 + timedelta(seconds=6), status=502, outcome="unreachable"),
        ]
    )
    info = await store.get("s1")
    assert info is not None
    assert (info.requests, info.responses, info.errors) == (2, 2, 1)
    assert (info.input_tokens, info.output_tokens, info.total_tokens) == (10, 5, 15)
    assert info.first_seen == T0 and info.last_seen == T0 + timedelta(seconds=6)
    assert (info.backend, info.model, info.client_ip) == ("openai", "gpt-x", "10.0.0.1")
    assert info.api_key_fingerprint == "fp_0123456789abcdef"
    assert await store.get("nobody") is None


async def test_violation_counts_once_per_event_id() -> None:
    store = MemorySessionStore()
    await store.record([req("s1")])
    assert await store.flag(violation("s1", "v1"))
    assert not await store.flag(violation("s1", "v1"))
    assert await store.flag(violation("s1", "v2", rule="secrets.aws"))
    info = await store.get("s1")
    assert info is not None
    assert info.flagged and info.violations == 2 and info.last_rule_id == "secrets.aws"


async def test_command_mirror_keeps_the_newest() -> None:
    store = MemorySessionStore()
    new = SessionCommand(
        source="t",
        session_id="s1",
        issuer="t",
        command="resume",
        time=T0 + timedelta(seconds=1),
        decision_id="b",
    )
    old = SessionCommand(
        source="t",
        session_id="s1",
        issuer="t",
        command="kill",
        time=T0,
        decision_id="a",
        block_mode="permanent",
    )
    assert await store.save_command(new)
    assert not await store.save_command(old)
    assert await store.commands() == [new]


async def test_query_filters_and_orders_by_last_seen() -> None:
    store = MemorySessionStore()
    await store.record(
        [
            req("old", at=T0 - timedelta(hours=2)),
            req("a", at=T0, backend="anthropic"),
            req("b", at=T0 + timedelta(seconds=1)),
        ]
    )
    await store.flag(violation("a", "v1"))
    assert [s.session_id for s in await store.query()] == ["b", "a", "old"]
    assert [s.session_id for s in await store.query(limit=1)] == ["b"]
    assert [s.session_id for s in await store.query(flagged=True)] == ["a"]
    assert [s.session_id for s in await store.query(flagged=False)] == ["b", "old"]
    assert [s.session_id for s in await store.query(backend="anthropic")] == ["a"]
    since = T0 - timedelta(minutes=1)
    assert [s.session_id for s in await store.query(since=since)] == ["b", "a"]


async def test_least_recently_seen_session_is_evicted() -> None:
    store = MemorySessionStore(max_sessions=2)
    await store.record([req("a"), req("b")])
    await store.record([req("a")])  # touch a: b is now the least recently seen
    await store.record([req("c")])
    assert await store.count() == 2
    assert await store.get("b") is None
    assert await store.get("a") is not None
