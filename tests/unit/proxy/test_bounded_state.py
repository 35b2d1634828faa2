"""A flood of session ids must not grow the proxy's memory without bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from proxy.enforcement.kills import KillRegistry
from proxy.enforcement.memory_store import MemorySessionStore
from schemas.events import LLMRequest
from tests.support.session_events import command

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def request(sid: str) -> LLMRequest:
    return LLMRequest(
        source="t", session_id=sid, request_id=f"r-{sid}", backend="b", provider="openai",
        method="POST", path="/v1/chat/completions", time=T0,
    )  # fmt: skip


def test_expired_and_resumed_kills_leave_the_registry() -> None:
    reg = KillRegistry(max_markers=1000)
    for i in range(20_000):  # every session killed once, for a minute
        reg.apply(
            command(f"s{i}", "kill", T0, mode="duration", expires_at=T0 + timedelta(minutes=1),
                    signed=False)
        )  # fmt: skip
    permanent = command("boss", "kill", T0, signed=False)
    reg.apply(permanent)
    resumed = command("r", "kill", T0, signed=False)
    reg.apply(resumed)
    reg.apply(command("r", "resume", T0 + timedelta(seconds=1), signed=False))
    assert len(reg) == 20_001
    assert reg.prune(T0 + timedelta(minutes=2)) == 20_000
    assert len(reg) == 1 and reg.check("boss", T0 + timedelta(days=1)) == permanent
    assert reg.markers == 1000  # the FIFO of markers is capped
    assert reg.prune(T0 + timedelta(minutes=3)) == 0  # nothing left to look at


def test_a_marker_still_refuses_a_late_older_or_repeated_kill() -> None:
    reg = KillRegistry()
    kill = command("s1", "kill", T0, decision_id="d1", signed=False)
    reg.apply(kill)
    reg.apply(command("s1", "resume", T0 + timedelta(seconds=5), signed=False))
    assert len(reg) == 0 and reg.known("s1")
    assert not reg.apply(kill)  # redelivered by Redis after the resume
    repeat = command("s1", "kill", T0 + timedelta(seconds=9), decision_id="d1", signed=False)
    assert not reg.apply(repeat)
    assert reg.check("s1", T0 + timedelta(seconds=10)) is None


def test_a_tombstone_forgets_only_what_is_no_longer_in_force() -> None:
    reg = KillRegistry()
    reg.apply(command("old", "kill", T0, mode="duration", expires_at=T0 + timedelta(seconds=1),
                      signed=False))  # fmt: skip
    live = command("live", "kill", T0, signed=False)
    reg.apply(live)
    later = T0 + timedelta(seconds=5)
    assert reg.forget("old", later) is None and reg.held("old") is None
    assert reg.forget("live", later) == live  # the caller re-publishes it
    assert reg.check("live", later) == live


async def test_memory_store_evicts_idle_sessions_without_a_scan() -> None:
    now = [0.0]
    store = MemorySessionStore(max_sessions=1_000_000, ttl_s=10.0, clock=lambda: now[0])
    await store.record([request(f"idle-{i}") for i in range(20_000)])
    now[0] = 5.0
    await store.record([request("busy")])
    assert await store.count() == 20_001
    now[0] = 12.0
    assert store.expire() == 20_000
    assert await store.count() == 1 and await store.get("busy") is not None
    assert store.expire() == 0


async def test_memory_store_keeps_no_command_for_resumed_unknown_sessions() -> None:
    store = MemorySessionStore()
    for i in range(1000):
        await store.save_command(command(f"s{i}", "kill", T0, signed=False))
        await store.save_command(
            command(f"s{i}", "resume", T0 + timedelta(seconds=1), signed=False)
        )
    assert await store.commands() == []
