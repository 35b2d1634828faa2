"""`python -m streams`: run one streams worker from env settings (`MODELTRAIL_STREAMS__*`,
`MODELTRAIL_KAFKA__*`). SIGTERM/SIGINT stop it cleanly: the current batch finishes, the
changelog is flushed and offsets are committed before exit. That stop is bounded by
`shutdown_timeout_s`: when the broker is gone the final commit cannot finish, so the worker
logs `shutdown_timeout` and exits 1 (nothing is lost: the next worker replays the events
after the last commit, and their outputs are deduplicated). SIGHUP reloads the policy files
(atomically, between two batches; a file that does not validate keeps the live rules).

Logs are JSON lines on stderr (`schemas.logs`): faust's own loggers go through the same
handler, because the worker is handed a `logging_config` instead of its colour text setup.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading

import faust

from schemas.kafka import ensure_topics
from schemas.logs import configure_logging
from streams.app import create_app
from streams.errors import StreamsConfigError
from streams.settings import StreamsSettings

log = logging.getLogger("streams")

#: Exit status when the shutdown outlived `shutdown_timeout_s` (offsets not committed).
EXIT_SHUTDOWN_TIMEOUT = 1


class _Worker(faust.Worker):
    """faust's worker with a bound on the stop that a signal starts.

    A thread, not the event loop, holds the deadline: the stop may be stuck in a
    broker call that retries for ever, and the loop is what is stuck."""

    shutdown_timeout_s: float = 10.0
    _deadline: threading.Timer | None = None

    def _on_sigint(self) -> None:
        self._arm_deadline()
        super()._on_sigint()

    def _on_sigterm(self) -> None:
        self._arm_deadline()
        super()._on_sigterm()

    def _arm_deadline(self) -> None:
        if self._deadline is None:
            self._deadline = threading.Timer(self.shutdown_timeout_s, _shutdown_timed_out)
            self._deadline.daemon = True
            self._deadline.start()


def _shutdown_timed_out() -> None:
    log.error(  # the final commit did not finish (broker unreachable?)
        "shutdown_timeout", extra={"detail": "events after the last commit will be replayed"}
    )
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(EXIT_SHUTDOWN_TIMEOUT)


def logging_config(level: str) -> dict[str, object]:
    """The `dictConfig` faust's worker applies: every record as one JSON line on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,  # module loggers exist before the worker starts
        "formatters": {"json": {"()": "schemas.logs.JsonFormatter"}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["json"]},
        "loggers": {"aiokafka": {"level": "ERROR"}},
    }


def main() -> None:
    """Build settings once, create the topics, run the worker until signalled."""
    settings = StreamsSettings()
    configure_logging(settings.log_level, "json", quiet={"aiokafka": logging.ERROR})
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(ensure_topics(settings.kafka))
    try:
        app = create_app(settings)
    except StreamsConfigError as exc:
        print(f"modeltrail streams: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    worker = _Worker(
        app,
        loglevel=settings.log_level,
        logging_config=logging_config(settings.log_level),
        loop=loop,
        quiet=True,
    )
    worker.shutdown_timeout_s = settings.shutdown_timeout_s
    if app.policy is not None:
        holder = app.policy

        def reload_policy() -> None:
            try:
                engine = holder.reload()
            except Exception:  # a bad edit keeps the live rules; say why and carry on
                log.exception("policy_reload_failed")
            else:
                log.info("policy_reloaded", extra={"policy_version": engine.version})

        loop.add_signal_handler(signal.SIGHUP, reload_policy)
    log.info("streams_worker_start", extra={"app_id": settings.app_id})
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
