"""What every `SessionStore` must do, checked against each implementation by its own tests.

`tests/unit/proxy/test_session_store_memory.py` runs these on `MemorySessionStore`,
`tests/integration/test_proxy_enforcement_redis.py` on `RedisSessionStore` (real
Redis). `from tests.support.session_store_contract import ...`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from proxy.enforcement.session_store import SessionStore
from tests.support.session_events import command, llm_request, violation

__all__ = ["check_newest_command_wins", "check_query_filters", "check_violation_counts_once"]


async def check_violation_counts_once(
    first: SessionStore, second: SessionStore, t0: datetime
) -> None:
    """A violation counts once per event id, even when two stores (replicas) see it."""
    await first.record([llm_request("s1", t0)])
    assert await first.flag(violation("s1", "v1", t0))
    assert not await second.flag(violation("s1", "v1", t0))
    assert await second.flag(violation("s1", "v2", t0, rule="secrets.aws"))
    info = await first.get("s1")
    assert info is not None
    assert info.flagged and info.violations == 2 and info.last_rule_id == "secrets.aws"


async def check_newest_command_wins(store: SessionStore, t0: datetime) -> None:
    """A mirrored command replaces only an older one, whatever the arrival order."""
    new = command("s1", "kill", t0 + timedelta(seconds=1), decision_id="b", reason="newer")
    old = command("s1", "kill", t0, decision_id="a")
    assert await store.save_command(new)
    assert not await store.save_command(old)
    assert await store.commands() == [new]


async def check_query_filters(store: SessionStore, t0: datetime) -> None:
    """Listing is most recently seen first; limit, flagged, backend and since narrow it."""
    await store.record(
        [
            llm_request("old", t0 - timedelta(hours=3)),
            llm_request("a", t0, backend="anthropic"),
            llm_request("b", t0 + timedelta(seconds=1)),
        ]
    )
    await store.flag(violation("a", "v1", t0))
    assert [s.session_id for s in await store.query()] == ["b", "a", "old"]
    assert [s.session_id for s in await store.query(limit=1)] == ["b"]
    assert [s.session_id for s in await store.query(limit=2)] == ["b", "a"]
    assert [s.session_id for s in await store.query(flagged=True)] == ["a"]
    assert [s.session_id for s in await store.query(flagged=False)] == ["b", "old"]
    assert [s.session_id for s in await store.query(backend="anthropic")] == ["a"]
    for since in (t0 - timedelta(hours=1), t0 - timedelta(minutes=1)):
        assert [s.session_id for s in await store.query(since=since)] == ["b", "a"]
        assert await store.count(since=since) == 2
    assert await store.count() == 3
    assert await store.get("nobody") is None
