"""`python -m sinks`: run one sink from env (`MODELTRAIL_SINK__*`, `MODELTRAIL_KAFKA__*`).

SIGTERM or SIGINT flushes every open file, waits until it is stored and
committed, then exits 0. SIGKILL is safe too (see `sinks.consumer`).
"""

from __future__ import annotations

import asyncio
import faulthandler
import json
import logging
import signal
import sys

from schemas.kafka import ensure_topics
from sinks.consumer import Sink
from sinks.settings import SinkSettings

__all__ = ["main"]

_STD = set(vars(logging.makeLogRecord({})))


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = {k: v for k, v in vars(record).items() if k not in _STD and k != "message"}
        return json.dumps(
            {
                "level": record.levelname,
                "logger": record.name,
                "event": record.getMessage(),
                **extra,
            },
            default=str,
        )


def _configure_logging(settings: SinkSettings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


async def _run(settings: SinkSettings) -> None:
    await ensure_topics(settings.kafka)
    sink = Sink(settings)
    task = asyncio.create_task(sink.run())

    def on_signal() -> None:
        # First signal: flush, store, commit, exit. Second: exit now; safe, as
        # nothing is committed that is not stored (the replay redoes the rest).
        if sink.stopping:
            task.cancel()
        sink.stop()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        await task
    except asyncio.CancelledError:
        logging.getLogger(__name__).warning("sink_aborted")
    # Everything is stored and committed; should tearing down the loop ever hang,
    # leave the stacks in the log instead of waiting silently.
    faulthandler.dump_traceback_later(10, exit=True)


def main() -> None:
    """Entry point of `python -m sinks`."""
    settings = SinkSettings()
    _configure_logging(settings)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_run(settings))


if __name__ == "__main__":
    main()
