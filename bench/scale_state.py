"""In-process part of `bench/scale.py`: the state a flood of sessions leaves behind.

Drives the real bounded structures (the proxy's `MemorySessionStore` and
`KillRegistry`, the streams worker's `SessionStore` over a dict standing in for the
faust table's memory store) with N distinct sessions, each seen once and killed
once for a short duration, then moves their clocks past the TTL and runs the
sweeps the services run. Memory is measured with tracemalloc (live Python
objects): CPython's allocator rarely hands freed pages back to the OS, so RSS
would measure the allocator, not the state. Not a test module.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from proxy.enforcement.kills import KillRegistry
from proxy.enforcement.memory_store import MemorySessionStore
from schemas.events import LLMRequest, SessionCommand
from streams.state import SessionState
from streams.state_cache import SessionStateCache

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TTL_S = 60.0


@dataclass
class Churn:
    """Memory of the session state before and after a churn, in MB."""

    baseline_mb: float
    peak_mb: float
    after_mb: float
    rss_baseline_mb: float
    rss_after_mb: float
    table_rows_after: int
    kills_held_after: int


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _request(sid: str) -> LLMRequest:
    return LLMRequest(
        source="bench", session_id=sid, request_id=f"r-{sid}", backend="b", provider="openai",
        method="POST", path="/v1/chat/completions", time=T0,
    )  # fmt: skip


def _kill(sid: str) -> SessionCommand:
    return SessionCommand(
        source="bench", session_id=sid, time=T0, command="kill", block_mode="duration",
        expires_at=T0 + timedelta(seconds=30), issuer="bench", decision_id=f"d-{sid}",
    )  # fmt: skip


class _World:
    """The proxy's and the worker's per-session structures, on a fake clock."""

    def __init__(self) -> None:
        self.clock = _Clock()
        self.store = MemorySessionStore(max_sessions=1_000_000, ttl_s=TTL_S, clock=self.clock)
        self.registry = KillRegistry(marker_ttl_s=TTL_S)
        self.table: dict[bytes, bytes] = {}
        self.sessions = SessionStateCache(self.table, ttl_s=TTL_S)

    async def churn(self, prefix: str, n: int, batch: int = 1000) -> None:
        base = T0.timestamp()
        for start in range(0, n, batch):
            sids = [f"{prefix}-{i}" for i in range(start, min(start + batch, n))]
            await self.store.record([_request(s) for s in sids])
            states = {}
            for sid in sids:
                cmd = _kill(sid)
                self.registry.apply(cmd)
                await self.store.save_command(cmd)
                state = SessionState(sid)
                state.last_seen = base
                state.apply_command(cmd)
                states[sid] = state
            self.sessions.put(states)
            self.sessions.flush()

    def expire(self) -> None:
        """Everything idle past the TTL: what the sweepers do when the time comes."""
        self.clock.now += 2 * TTL_S
        later = T0 + timedelta(seconds=2 * TTL_S)
        self.store.expire(later)
        self.registry.prune(later)
        self.sessions.sweep(later.timestamp() + TTL_S)


def _mb() -> float:
    gc.collect()
    return tracemalloc.get_traced_memory()[0] / 1e6


def rss_mb() -> float:
    """This process's resident set size (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def measure_churn(sessions: int) -> Churn:
    """Baseline after a small warm-up churn, then `sessions` more, expired.

    Two runs: one for RSS (no tracing: tracemalloc's own records would swell it),
    one under tracemalloc for the live-object figures.
    """
    world = _World()
    await world.churn("warm", 2000)
    world.expire()
    gc.collect()
    rss_before = rss_mb()
    await world.churn("flood", sessions)
    world.expire()
    gc.collect()
    rss_after = rss_mb()
    rows, kills = len(world.table), len(world.registry)
    del world
    world = _World()
    await world.churn("warm", 2000)
    world.expire()
    tracemalloc.start()
    baseline = _mb()
    await world.churn("flood2", sessions)
    peak = _mb()
    world.expire()
    after = _mb()
    tracemalloc.stop()
    return Churn(baseline, peak, after, rss_before, rss_after, rows, kills)


async def measure_idle(sessions: int) -> float:
    """KB per idle session held by the proxy's memory store (seen once, never killed)."""
    tracemalloc.start()
    store = MemorySessionStore(max_sessions=sessions + 1)
    before = _mb()
    for start in range(0, sessions, 1000):
        await store.record([_request(f"idle-{i}") for i in range(start, start + 1000)])
    after = _mb()
    tracemalloc.stop()
    return (after - before) * 1000 / sessions


if __name__ == "__main__":
    print(asyncio.run(measure_idle(50_000)), asyncio.run(measure_churn(200_000)))
