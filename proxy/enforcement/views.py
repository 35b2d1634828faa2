"""Read models for the control API: session records merged with live kill state.

The store holds counters; the kill registry is this replica's truth about
kills (it includes kills mirrored from other replicas). A session shown as
`killed` is one `check` would refuse right now.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from proxy.enforcement.kills import KillRegistry
from proxy.enforcement.session_store import KillState, SessionInfo, SessionStore

__all__ = ["Filters", "merge", "session", "sessions"]


class Filters(NamedTuple):
    """Filters of `/control/sessions`; None means either."""

    active: bool | None = None
    killed: bool | None = None
    flagged: bool | None = None
    backend: str | None = None
    limit: int = 100


def merge(
    registry: KillRegistry, info: SessionInfo | None, sid: str, now: datetime
) -> SessionInfo | None:
    """A session record with the registry's kill state (a killed, never-seen session too)."""
    latest = registry.latest(sid)
    killed = registry.check(sid, now) is not None
    if info is None:
        if not registry.known(sid):
            return None
        info = SessionInfo(session_id=sid)
    kill = KillState.of(latest) if latest is not None else info.kill
    return info.model_copy(update={"killed": killed, "kill": kill})


async def session(
    store: SessionStore, registry: KillRegistry, sid: str, now: datetime
) -> SessionInfo | None:
    """One session, or None when never seen nor commanded."""
    return merge(registry, await store.get(sid), sid, now)


async def sessions(
    store: SessionStore,
    registry: KillRegistry,
    f: Filters,
    *,
    now: datetime,
    idle_s: float,
) -> list[SessionInfo]:
    """Sessions, most recently seen first (killed ones: most recently killed first)."""
    idle_floor = now - timedelta(seconds=idle_s)
    candidates: list[SessionInfo | None]
    if f.killed:
        kills = sorted(registry.active(now), key=lambda c: c.time, reverse=True)
        candidates = [
            merge(registry, await store.get(c.session_id), c.session_id, now) for c in kills
        ]
    else:
        # Filters the store cannot apply are applied below over a wider window.
        wide = f.active is False or f.killed is False
        found = await store.query(
            flagged=f.flagged,
            backend=f.backend,
            since=idle_floor if f.active else None,
            limit=f.limit * 10 if wide else f.limit,
        )
        candidates = [merge(registry, i, i.session_id, now) for i in found]
    out: list[SessionInfo] = []
    for info in candidates:
        if info is None:
            continue
        is_active = info.last_seen is not None and info.last_seen >= idle_floor
        if f.active is not None and is_active != f.active:
            continue
        if f.killed is not None and info.killed != f.killed:
            continue
        if f.flagged is not None and info.flagged != f.flagged:
            continue
        if f.backend is not None and info.backend != f.backend:
            continue
        out.append(info)
        if len(out) >= f.limit:
            break
    return out
