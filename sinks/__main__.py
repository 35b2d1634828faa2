"""`python -m sinks`: run one sink from env (`MODELTRAIL_SINK__*`, `MODELTRAIL_KAFKA__*`).

SIGTERM or SIGINT flushes every open file, waits until it is stored and
committed, then exits 0. SIGKILL is safe too (see `sinks.consumer`).
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import signal

from schemas.kafka import ensure_topics
from schemas.logs import configure_logging
from sinks.consumer import Sink
from sinks.settings import SinkSettings

__all__ = ["main"]


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
    configure_logging(settings.log_level, settings.log_format, quiet={"aiokafka": logging.WARNING})
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_run(settings))


if __name__ == "__main__":
    main()
