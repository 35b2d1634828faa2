"""`python -m streams.alerts`: deliver violations and commands to webhooks, from env
(`MODELTRAIL_ALERTS__*`, `MODELTRAIL_KAFKA__*`). SIGTERM/SIGINT drain and commit, then exit.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from schemas.kafka import ensure_topics
from schemas.logs import configure_logging
from streams.alerts.service import AlertService
from streams.alerts.settings import AlertsSettings

__all__ = ["main"]


async def _run(settings: AlertsSettings) -> None:
    await ensure_topics(settings.kafka)
    service = AlertService(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, service.stop)
    await service.run()


def main() -> None:
    """Entry point of `python -m streams.alerts`."""
    settings = AlertsSettings()
    configure_logging(settings.log_level, settings.log_format, quiet={"aiokafka": logging.WARNING})
    asyncio.run(_run(settings))


if __name__ == "__main__":
    main()
