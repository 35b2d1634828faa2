"""Control API routes behind the dashboard: who am I, overview, violations, timeline, SQL.

Scopes: everything here needs `read`, except prompt/answer text in the timeline
and SQL over the trail, which need `settings.content_scope` (`admin` unless
configured otherwise). The violation feed comes from `ViolationFeed`, a Kafka
consumer in the control plane; nothing here touches the proxy's request path.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from proxy.control.auth import Principal, require
from proxy.control.errors import HistoryError, QueryRejected
from proxy.control.feed import ViolationFeed
from proxy.control.history import history_trail
from proxy.control.overview import GroupHealth, MetricSampler, SpendSource
from proxy.control.trail import TrailReader, to_csv
from proxy.enforcement.errors import SessionStoreError
from proxy.enforcement.service import EnforcementService
from proxy.metrics import ProxyMetrics
from proxy.publisher import Publisher
from proxy.settings import ProxySettings
from schemas.events import utcnow

__all__ = ["Dashboard", "TrailQuery", "dashboard_router"]

_HEARTBEAT_S = 15.0
Limit = Annotated[int, Query(ge=1, le=500)]


class TrailQuery(BaseModel):
    """One SQL statement over the trail's views."""

    sql: str = Field(min_length=1, max_length=20_000)


@dataclass
class Dashboard:
    """What the dashboard routes read; owned by the control app (stopped on shutdown)."""

    settings: ProxySettings
    enforcement: EnforcementService
    emitter_stats: Callable[[], Mapping[str, object]] | None
    feed: ViolationFeed
    sampler: MetricSampler
    health: GroupHealth
    trail: TrailReader
    spend: SpendSource | None = None

    @classmethod
    def build(
        cls,
        settings: ProxySettings,
        enforcement: EnforcementService,
        emitter: Publisher | None,
        metrics: ProxyMetrics,
        spend: SpendSource | None = None,
    ) -> Dashboard:
        """The dashboard's parts from the settings; nothing starts until first used."""
        return cls(
            settings=settings,
            enforcement=enforcement,
            emitter_stats=emitter.stats if emitter is not None else None,
            feed=ViolationFeed(
                settings.kafka,
                lookback_s=settings.ui_feed_lookback_s,
                replay_timeout_s=settings.enforcement_replay_timeout_s,
            ),
            sampler=MetricSampler(metrics.requests, metrics.overhead),
            health=GroupHealth(
                settings.kafka, {"sink": settings.sink_group, "streams": settings.streams_group}
            ),
            trail=TrailReader(
                history_trail(settings),
                timeout_s=settings.trail_query_timeout_s,
                max_rows=settings.trail_query_max_rows,
            ),
            spend=spend,
        )

    async def stop(self) -> None:
        """Stop the feed consumer and the health probe; idempotent."""
        await self.feed.stop()
        await self.health.stop()


def dashboard_router(d: Dashboard) -> APIRouter:
    """The dashboard's API routes over `d`."""
    router = APIRouter(prefix="/control", tags=["dashboard"])
    reader = require("read")
    content = require(d.settings.content_scope)

    @router.get("/whoami")
    async def whoami(who: Principal = Depends(reader)) -> dict[str, object]:
        """The calling key's id and scopes: the dashboard hides what they do not allow."""
        return {
            "id": who.id,
            "scopes": sorted(who.scopes),
            "kill": who.allows("kill"),
            "admin": who.allows("admin"),
            "content": who.allows(d.settings.content_scope),
            "instance": d.settings.instance_id,
        }

    @router.get("/overview", dependencies=[Depends(reader)])
    async def overview() -> dict[str, object]:
        """Requests/s, added latency, sessions, violations per minute and health."""
        d.feed.kick()
        d.sampler.sample()
        now = utcnow()
        try:
            stats = dict(await d.enforcement.stats())
        except SessionStoreError:
            stats = {}
        emitter = dict(d.emitter_stats()) if d.emitter_stats is not None else None
        flagged_floor = (now - timedelta(seconds=d.settings.session_idle_s)).timestamp()
        spend = await d.spend() if d.spend is not None else None
        return {
            "instance": d.settings.instance_id,
            "time": now.isoformat(),
            "series": d.sampler.series(),
            "totals": d.sampler.totals(),
            "sessions": {
                "active": stats.get("active_sessions"),
                "total": stats.get("sessions"),
                "killed": stats.get("killed_sessions"),
                "flagged": d.feed.flagged_since(flagged_floor),
            },
            "violations": {"per_minute": d.feed.per_minute(30), "received": d.feed.received},
            "spend_today": {
                "usd": spend,
                "available": d.spend is not None,
                "note": None
                if d.spend is not None
                else "spend appears once key identity and the price table (issue 12) are installed",
            },
            "health": {
                "broker": emitter,
                "feed": {"ok": d.feed.running, "error": d.feed.error},
                "store": {"ok": bool(stats), "kind": d.settings.session_store},
                **d.health.snapshot(),
            },
        }

    @router.get("/violations", dependencies=[Depends(reader)])
    async def violations(
        limit: Limit = 100,
        session: str | None = None,
        severity: str | None = None,
        owasp: str | None = None,
    ) -> dict[str, object]:
        """The newest violations seen by the feed (last hour), filtered."""
        running = d.feed.kick()
        found = d.feed.recent(limit=limit, session=session, severity=severity, owasp=owasp)
        return {"count": len(found), "running": running, "violations": found}

    @router.get("/violations/hits", dependencies=[Depends(reader)])
    async def hits() -> dict[str, object]:
        """Violations per rule id seen by the feed (since its look-back)."""
        d.feed.kick()
        return {"hits": dict(d.feed.hits), "lookback_s": d.settings.ui_feed_lookback_s}

    @router.get("/violations/stream", dependencies=[Depends(reader)])
    async def stream() -> StreamingResponse:
        """Server-Sent Events: the recent backlog, then each new violation as it arrives.

        The feed starts in the background on first use; what its look-back replays
        reaches open streams like live violations (clients dedupe by event_id).
        """
        d.feed.kick()
        return StreamingResponse(
            _sse(d.feed),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.get("/sessions/{session_id}/timeline")
    async def timeline(
        session_id: Annotated[str, Path(min_length=1, max_length=512)],
        who: Principal = Depends(reader),
    ) -> dict[str, object]:
        """One session from the live store and the Parquet trail (text with the content scope)."""
        show = who.allows(d.settings.content_scope)
        try:
            info = await d.enforcement.session(session_id)
        except SessionStoreError:
            info = None
        try:
            events = await asyncio.to_thread(d.trail.timeline, session_id, content=show)
            error = None
        except HistoryError as exc:
            events, error = [], str(exc)
        return {
            "session": info.model_dump(mode="json") if info is not None else None,
            "live_violations": d.feed.recent(session=session_id, limit=200),
            "timeline": events,
            "content": show,
            "trail_error": error,
        }

    @router.post("/trail/query", dependencies=[Depends(content)])
    async def trail_query(body: TrailQuery) -> JSONResponse:
        """Run one SELECT over the trail's views; at most `trail_query_max_rows` rows."""
        columns, rows, truncated = await _run(d.trail, body.sql)
        return JSONResponse(
            {"columns": columns, "rows": rows, "count": len(rows), "truncated": truncated}
        )

    @router.post("/trail/query.csv", dependencies=[Depends(content)])
    async def trail_csv(body: TrailQuery) -> Response:
        """The same query as CSV, as a download."""
        columns, rows, _ = await _run(d.trail, body.sql)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        return Response(
            to_csv(columns, rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="trail-{stamp}.csv"'},
        )

    return router


async def _run(trail: TrailReader, sql: str) -> tuple[list[str], list[list[Any]], bool]:
    try:
        return await asyncio.to_thread(trail.query, sql)
    except QueryRejected as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    except HistoryError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from exc


async def _sse(feed: ViolationFeed) -> AsyncIterator[str]:
    async with feed.subscribe() as queue:
        yield "retry: 2000\n\n"
        for view in reversed(feed.recent(limit=100)):
            yield f"event: violation\ndata: {json.dumps(view)}\n\n"
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), _HEARTBEAT_S)
            except TimeoutError:
                yield ": ping\n\n"
                continue
            if item is None:
                return
            yield f"event: violation\ndata: {json.dumps(item)}\n\n"
