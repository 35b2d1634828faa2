"""`python -m sinks`: run one sink from env (`MODELTRAIL_SINK__*`, `MODELTRAIL_KAFKA__*`).

SIGTERM or SIGINT flushes every open file, waits until it is stored and
committed, then exits 0. SIGKILL is safe too (see `sinks.consumer`).
"""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import signal

from schemas import TABLES
from schemas.kafka import ensure_topics
from schemas.logs import configure_logging
from schemas.resets import reset_stale_commits
from sinks.consumer import Sink
from sinks.settings import SinkSettings

__all__ = ["EXIT_LOG_REPLACED", "main"]

EXIT_LOG_REPLACED = 3


async def _run(settings: SinkSettings) -> int:
    await ensure_topics(settings.kafka)
    topics = settings.kafka.topics.by_model()
    archived = [topics[TABLES[table]] for table in settings.tables]
    await reset_stale_commits(settings.kafka, settings.group_id, archived)
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
    # A replaced log (broker reset): exit non-zero so that `up` (or the orchestrator)
    # starts the sink again on the new log.
    return EXIT_LOG_REPLACED if sink.log_replaced else 0


def main() -> None:
    """Entry point of `python -m sinks`."""
    settings = SinkSettings()
    configure_logging(settings.log_level, settings.log_format, quiet={"aiokafka": logging.WARNING})
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    code = asyncio.run(_run(settings))
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
