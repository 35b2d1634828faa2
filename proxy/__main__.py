"""`python -m proxy`: the proxy on host:port and the control API on control_host:control_port.

Settings come from env (`MODELTRAIL_PROXY__*`, `MODELTRAIL_KAFKA__*`, ...). Both
servers run in one process on uvloop with httptools and no access log. SIGTERM
or SIGINT: both servers stop accepting, in-flight requests finish (up to the
graceful timeout), then the emitter queue is drained to Kafka (or the spool)
and the producer flushed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

import uvicorn

from proxy.app import build_emitter, create_app
from proxy.errors import UnsafeSettings
from proxy.exposure import check_exposure
from proxy.keys.gate import ClientGate, build_key_book
from proxy.metrics import ProxyMetrics
from proxy.serving import CoalescingHttpToolsProtocol
from proxy.settings import ProxySettings
from schemas.logs import configure_logging

__all__ = ["main", "serve"]

log = logging.getLogger("proxy")


def _freeze_heap() -> int:
    """Take everything alive after start-up out of the cyclic GC's reach; returns its size.

    A full (generation 2) collection walks every tracked object. After start-up
    that is a few hundred thousand (pydantic schemas, the policy catalogue,
    aiokafka, uvicorn, ...) and one pass stalled the event loop, so every
    in-flight request, for 50-120 ms here. Frozen objects are never scanned
    again; cycles made later are still collected.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


#: Allocations between two young-generation collections (CPython's default: 700).
GC_YOUNG_THRESHOLD = 20_000


async def serve(settings: ProxySettings) -> None:
    """Run both servers until a signal; returns after a clean drain."""
    from proxy.control import create_control_app
    from proxy.enforcement import EnforcementService

    check_exposure(settings)
    metrics = ProxyMetrics()
    emitter = build_emitter(settings, metrics)
    enforcement = EnforcementService(settings, publisher=emitter, metrics=metrics)
    gate = ClientGate(settings, build_key_book(settings))
    proxy_app = create_app(
        settings, enforcement=enforcement, publisher=emitter, metrics=metrics, gate=gate
    )
    control_app = create_control_app(
        settings,
        enforcement,
        emitter,
        metrics=metrics,
        policy=proxy_app.policy,
        gate=gate,
        pii=proxy_app.pii,
    )
    # Everything loaded so far (modules, compiled rules) lives as long as the process:
    # keeping it out of the collector makes each full collection, which pauses the event
    # loop, tens of milliseconds shorter.
    gc.collect()
    gc.freeze()
    # A request allocates a few thousand objects, nearly all freed by reference counting:
    # at the default threshold (700) several young collections ran per request.
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)

    def config(
        app: object, host: str, port: int, lifespan: str, *, relay: bool = False
    ) -> uvicorn.Config:
        return uvicorn.Config(
            app,  # type: ignore[arg-type]
            host=host,
            port=port,
            loop="none",
            # The proxy's answers leave in one write per loop turn (`proxy.serving`).
            http=CoalescingHttpToolsProtocol if relay else "httptools",
            lifespan=lifespan,  # type: ignore[arg-type]
            access_log=False,
            log_config=None,
            # The app resolves X-Forwarded-For itself, from `trusted_proxies` only;
            # uvicorn's middleware would trust any loopback peer and costs a wrapper call.
            proxy_headers=False,
            timeout_graceful_shutdown=10,
            backlog=4096,
            # The relay passes the backend's own `date` and `server`: uvicorn's would
            # make each appear twice.
            server_header=not relay,
            date_header=not relay,
        )

    proxy_server = uvicorn.Server(config(proxy_app, settings.host, settings.port, "on", relay=True))
    control_server = uvicorn.Server(
        config(control_app, settings.control_host, settings.control_port, "auto")
    )
    loop = asyncio.get_running_loop()

    def stop() -> None:
        log.info("shutdown_requested")
        proxy_server.should_exit = True
        control_server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    # The proxy's lifespan starts the emitter and enforcement the control API uses.
    proxy_task = asyncio.create_task(proxy_server._serve())
    while not proxy_server.started and not proxy_task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    if proxy_task.done():
        await proxy_task
        raise SystemExit("proxy failed to start")
    control_task = asyncio.create_task(control_server._serve())
    while not control_server.started and not control_task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    log.info(
        "proxy_started",
        extra={
            "proxy": f"{settings.host}:{settings.port}",
            "control": f"{settings.control_host}:{settings.control_port}",
            "on_broker_down": settings.on_broker_down,
            "gc_frozen": _freeze_heap(),
        },
    )
    await asyncio.gather(proxy_task, control_task)
    log.info("proxy_stopped", extra=emitter.stats())


def main() -> None:
    """Entry point: settings from env, uvloop, both servers."""
    configure_logging(logging.INFO, "json", quiet={"aiokafka": logging.ERROR})
    settings = ProxySettings()
    try:
        check_exposure(settings)
    except UnsafeSettings as exc:
        log.critical("unsafe_settings", extra={"error": str(exc)})
        raise SystemExit(f"modeltrail proxy: {exc}") from None
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        asyncio.run(serve(settings))
    else:
        uvloop.run(serve(settings))


if __name__ == "__main__":
    main()
