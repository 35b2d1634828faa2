"""`python -m streams`: run one streams worker from env settings (`MODELTRAIL_STREAMS__*`,
`MODELTRAIL_KAFKA__*`). SIGTERM/SIGINT stop it cleanly: the current batch finishes, the
changelog is flushed and offsets are committed before exit. SIGHUP reloads the policy files
(atomically, between two batches; a file that does not validate keeps the live rules).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import faust

from schemas.kafka import ensure_topics
from streams.app import create_app
from streams.errors import StreamsConfigError
from streams.settings import StreamsSettings

log = logging.getLogger("streams")


def main() -> None:
    """Build settings once, create the topics, run the worker until signalled."""
    settings = StreamsSettings()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(ensure_topics(settings.kafka))
    try:
        app = create_app(settings)
    except StreamsConfigError as exc:
        print(f"modeltrail streams: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    worker = faust.Worker(app, loglevel=settings.log_level, loop=loop, quiet=True)
    if app.policy is not None:
        holder = app.policy

        def reload_policy() -> None:
            try:
                engine = holder.reload()
            except Exception:  # a bad edit keeps the live rules; say why and carry on
                log.exception("policy_reload_failed")
            else:
                log.info(
                    "policy_reloaded version=%s",
                    engine.version,
                    extra={"policy_version": engine.version},
                )

        loop.add_signal_handler(signal.SIGHUP, reload_policy)
    log.info("streams_worker_start", extra={"app_id": settings.app_id})
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
