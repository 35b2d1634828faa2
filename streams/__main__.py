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
import signal
import sys

from schemas import no_autocreate
from schemas.kafka import ensure_topics
from schemas.logs import configure_logging
from schemas.resets import reset_stale_commits
from streams.app import SESSIONS_TABLE, SPEND_TABLE, create_app, source_topics
from streams.changelog import changelog_topic, ensure_changelog
from streams.errors import StreamsConfigError
from streams.faust_compat import BoundedWorker, check
from streams.settings import StreamsSettings
from streams.supervisor import supervise

log = logging.getLogger("streams")

#: Exit status when the shutdown outlived `shutdown_timeout_s` (offsets not committed).
EXIT_SHUTDOWN_TIMEOUT = 1


def logging_config(level: str) -> dict[str, object]:
    """The `dictConfig` faust's worker applies: every record as one JSON line on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,  # module loggers exist before the worker starts
        "formatters": {"json": {"()": "schemas.logs.JsonFormatter"}},
        "filters": {"repeats": {"()": "schemas.logs.RepeatFilter"}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
                "filters": ["repeats"],
            }
        },
        "root": {"level": level.upper(), "handlers": ["json"]},
        "loggers": {"aiokafka": {"level": "ERROR"}},
    }


def main() -> None:
    """Build settings once, create the topics, run the worker until signalled.

    With `processes` above 1 this process only prepares the topics and supervises that many
    workers (`streams.supervisor`), each of which runs this function as a child.
    """
    settings = StreamsSettings().for_process()
    child = settings.process_index is not None
    try:
        check()  # the faust/aiokafka internals we rely on are there
    except StreamsConfigError as exc:
        print(f"modeltrail streams: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    no_autocreate.apply()  # faust's own clients too: no topic is made by naming it
    configure_logging(settings.log_level, "json", quiet={"aiokafka": logging.ERROR})
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    if not child:  # (a child's supervisor has done this once for all of them)
        loop.run_until_complete(prepare(settings))
        if settings.processes > 1:
            loop.close()
            raise SystemExit(supervise(settings))
    try:
        app = create_app(settings)
    except StreamsConfigError as exc:
        print(f"modeltrail streams: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    worker = BoundedWorker(
        app,
        loglevel=settings.log_level,
        logging_config=logging_config(settings.log_level),
        loop=loop,
        quiet=True,
    )
    worker.shutdown_timeout_s = settings.shutdown_timeout_s
    worker.exit_code = EXIT_SHUTDOWN_TIMEOUT
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


async def prepare(settings: StreamsSettings) -> None:
    """Before faust: the topics exist, stale commits are reset, changelogs are checked."""
    await ensure_topics(settings.kafka)
    # Commits left past the end of a replaced log are set back to its start.
    sources = source_topics(settings.kafka.topics)
    await reset_stale_commits(settings.kafka, settings.app_id, sources)
    # A changelog the broker created by itself (after a reset) is replaced.
    changelogs = [changelog_topic(settings.app_id, t) for t in (SESSIONS_TABLE, SPEND_TABLE)]
    await asyncio.gather(*(ensure_changelog(settings.kafka, c) for c in changelogs))


if __name__ == "__main__":
    main()
