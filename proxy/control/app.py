"""The control API: sessions, kills, flagged sessions, history, policy, stats and metrics.

Served on its own port (default 127.0.0.1:9090) next to the proxy. A kill or
resume is applied on this replica at once (and mirrored to Redis for the
others) and published to `session.commands` through the emitter, so every
replica, including ones started later, applies it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from proxy.control.auth import KeyAuth, Principal, check_bind, is_loopback, require
from proxy.control.dashboard import Dashboard, dashboard_router
from proxy.control.errors import HistoryError
from proxy.control.guard import ControlGuard
from proxy.control.history import history_trail, query_history
from proxy.control.keyfile import ensure_admin_key
from proxy.control.keys import keys_router
from proxy.control.models import (
    CommandResult,
    Delivery,
    HistoryPage,
    KillRequest,
    ResumeRequest,
    SessionList,
)
from proxy.control.overview import SpendSource
from proxy.control.paging import PAGE_WINDOW, Order, SortKey, page_sessions
from proxy.control.pii import pii_router
from proxy.control.policy import policy_router
from proxy.control.scopes import command_identity, operator_command, scopes_router
from proxy.control.spend import TrailSpend
from proxy.control.ui import mount_ui
from proxy.enforcement.errors import SessionStoreError
from proxy.enforcement.service import EnforcementService
from proxy.enforcement.session_store import SessionInfo
from proxy.errors import ProxyError, SpoolError
from proxy.inline_policy import InlinePolicy
from proxy.keys.gate import ClientGate
from proxy.metrics import ProxyMetrics
from proxy.pii.service import PIIService
from proxy.publisher import Publisher
from proxy.settings import ControlKey, ProxySettings
from schemas.events import SessionCommand
from schemas.ids import SESSION_ID_PATTERN

__all__ = ["allowed_hosts", "control_keys", "create_control_app"]

log = logging.getLogger(__name__)

T = TypeVar("T")

SessionId = Annotated[str, Path(pattern=SESSION_ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=10_000)]


def create_control_app(
    settings: ProxySettings,
    enforcement: EnforcementService,
    emitter: Publisher | None,
    *,
    metrics: ProxyMetrics | None = None,
    policy: InlinePolicy | None = None,
    gate: ClientGate | None = None,
    spend: SpendSource | None = None,
    pii: PIIService | None = None,
) -> FastAPI:
    """Build the control app; raises ControlConfigError when the bind would be unsafe.

    The caller owns `enforcement` and `emitter` (starts and stops them). Pass the
    proxy app's `policy` so a reload here swaps the rule set the proxy enforces, and
    its `pii` so revocations reach the vault it reads.
    `spend` is the hook for today's spend on the dashboard (identity, issue 12).
    The app's lifespan stops the dashboard's violation feed.
    """
    check_bind(settings)
    metrics = metrics or enforcement.metrics or ProxyMetrics()
    if spend is None and gate is not None:
        spend = TrailSpend(history_trail(settings))
    board = Dashboard.build(settings, enforcement, emitter, metrics, spend)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await board.stop()

    app = FastAPI(
        title="modeltrail control API",
        version="1",
        description="Sessions, kills, flagged sessions, audit history, metrics and the "
        "dashboard (/ui).",
        lifespan=lifespan,
    )
    app.state.dashboard = board
    app.state.auth = KeyAuth(control_keys(settings))
    app.add_middleware(ControlGuard, allowed_hosts=allowed_hosts(settings))
    if enforcement.metrics is None:
        enforcement.metrics = metrics  # so kills and session gauges land on what we serve
    reader = Depends(require("read"))
    killer = Depends(require("kill"))
    app.include_router(policy_router(policy or InlinePolicy.from_settings(settings)))
    app.include_router(pii_router(pii))
    if gate is not None and gate.book is not None:
        app.include_router(keys_router(gate.book))
    app.include_router(dashboard_router(board))
    if settings.ui_enabled:
        mount_ui(app)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        body = {"error": {"type": _error_type(exc.status_code), "message": str(exc.detail)}}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.get("/control/health", tags=["health"])
    async def health() -> dict[str, object]:
        """Liveness: open, no key needed."""
        return {"status": "ok", "instance": settings.instance_id}

    @app.get("/control/stats", tags=["stats"], dependencies=[reader])
    async def stats() -> dict[str, object]:
        """Enforcement and emitter counters of this replica."""
        return {
            "instance": settings.instance_id,
            "enforcement": dict(await enforcement.stats()),
            "emitter": dict(emitter.stats()) if emitter is not None else None,
            "identity": dict(gate.stats()) if gate is not None else None,
        }

    @app.get("/control/sessions", tags=["sessions"], dependencies=[reader])
    async def sessions(
        active: bool | None = None,
        killed: bool | None = None,
        flagged: bool | None = None,
        backend: str | None = None,
        model: str | None = None,
        key: Annotated[str | None, Query(description="API-key fingerprint prefix")] = None,
        sort: SortKey | None = None,
        order: Order = "desc",
        offset: Annotated[int, Query(ge=0, le=PAGE_WINDOW)] = 0,
        limit: Limit = 100,
    ) -> SessionList:
        """Sessions, most recently seen first; with sort/model/key/offset, one sorted page."""
        paged = sort is not None or model is not None or key is not None or offset > 0
        window = PAGE_WINDOW if paged else limit
        found = await _store(
            enforcement.sessions(
                active=active, killed=killed, flagged=flagged, backend=backend, limit=window
            )
        )
        if not paged:
            return SessionList(count=len(found), sessions=found)
        total, page = page_sessions(
            found,
            model=model,
            key=key,
            sort=sort or "last_seen",
            order=order,
            offset=offset,
            limit=limit,
        )
        return SessionList(
            count=len(page),
            sessions=page,
            total=total,
            offset=offset,
            capped=len(found) >= window,
        )

    @app.get("/control/sessions/{session_id}", tags=["sessions"], dependencies=[reader])
    async def session(session_id: SessionId) -> SessionInfo:
        """One session with its kill state."""
        info = await _store(enforcement.session(session_id))
        if info is None:
            raise HTTPException(status_code=404, detail="unknown session")
        return info

    @app.post("/control/sessions/{session_id}/kill", tags=["sessions"])
    async def kill(
        session_id: SessionId, body: KillRequest, who: Principal = killer
    ) -> CommandResult:
        """Block a session on every replica (for a duration, until a time, or for good)."""
        ident = command_identity(gate, "session", session_id)
        cmd = operator_command(settings.instance_id, "session", session_id, who, body, None, ident)
        return await _command(cmd)

    @app.post("/control/sessions/{session_id}/resume", tags=["sessions"])
    async def resume(
        session_id: SessionId, body: ResumeRequest | None = None, who: Principal = killer
    ) -> CommandResult:
        """Lift a kill on every replica."""
        ident = command_identity(gate, "session", session_id)
        cmd = operator_command(settings.instance_id, "session", session_id, who, None, body, ident)
        return await _command(cmd)

    @app.get("/control/flagged", tags=["sessions"], dependencies=[reader])
    async def flagged(limit: Limit = 100) -> SessionList:
        """Sessions with at least one policy violation."""
        found = await _store(enforcement.sessions(flagged=True, limit=limit))
        return SessionList(count=len(found), sessions=found)

    @app.get("/control/history", tags=["history"], dependencies=[reader])
    async def history(
        session: str | None = None,
        event_type: Annotated[str | None, Query(alias="type")] = None,
        since: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> HistoryPage:
        """Events from the Parquet audit trail, newest first; metadata only."""
        try:
            rows = await asyncio.to_thread(
                query_history,
                history_trail(settings),
                session=session,
                event_type=event_type,
                since=since,
                limit=limit,
            )
        except HistoryError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from exc
        return HistoryPage(count=len(rows), events=rows)

    @app.get("/metrics", tags=["metrics"], dependencies=[reader])
    async def prometheus() -> Response:
        """Prometheus text exposition of this replica's metrics."""
        try:
            await enforcement.stats()  # refreshes the session gauges
        except SessionStoreError:
            pass
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def _command(cmd: SessionCommand) -> CommandResult:
        cmd = enforcement.signer.sign(cmd)
        try:
            applied = await enforcement.apply_local(cmd)
        except SessionStoreError as exc:
            # Applied here already; the other replicas will get it from Kafka.
            log.warning("command_mirror_failed", extra={"error": str(exc)})
            applied = True
        delivery = await _publish(emitter, cmd) if emitter is not None else "not_sent"
        if emitter is not None and delivery == "not_sent":
            raise HTTPException(
                status_code=503,
                detail="applied on this replica but not published to Kafka (queue full)",
            )
        log.info(
            "session_command_issued",
            extra={"session_id": cmd.session_id, "command": cmd.command, "issuer": cmd.issuer},
        )
        return CommandResult(
            command=cmd, applied=applied, published=delivery != "not_sent", delivery=delivery
        )

    app.include_router(scopes_router(settings.instance_id, gate, _command, killer))
    return app


def control_keys(settings: ProxySettings) -> list[ControlKey]:
    """The configured keys, or the generated admin key (created on first start)."""
    if settings.control_keys:
        return list(settings.control_keys)
    key, created = ensure_admin_key(settings.control_key_file)
    log.warning(
        "control_key_generated" if created else "control_key_loaded",
        extra={"key_file": str(settings.control_key_file.resolve()), "key_id": key.id},
    )
    return [key]


def allowed_hosts(settings: ProxySettings) -> list[str]:
    """The Host allow-list, plus the bind address when it names one."""
    hosts = list(settings.control_allowed_hosts)
    bind = settings.control_host
    if bind not in ("0.0.0.0", "::", "") and not is_loopback(bind):
        hosts.append(f"[{bind}]" if ":" in bind else bind)
    return hosts


async def _publish(emitter: Publisher, cmd: SessionCommand) -> Delivery:
    """Send with an ack when the emitter can (`send`), else queue it (`publish`)."""
    send = getattr(emitter, "send", None)
    if send is not None:
        try:
            await send(cmd)
            return "acked"
        except (ProxyError, SpoolError) as exc:
            log.warning("command_send_failed", extra={"error": str(exc)})
    return "queued" if emitter.publish(cmd) else "not_sent"


async def _store(awaitable: Awaitable[T]) -> T:
    """Await a store read; a store outage is a 503, not a stack trace."""
    try:
        return await awaitable
    except SessionStoreError as exc:
        raise HTTPException(status_code=503, detail=f"session store unavailable: {exc}") from exc


def _error_type(status: int) -> str:
    return {
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        422: "invalid_request",
        503: "unavailable",
    }.get(status, "error")
