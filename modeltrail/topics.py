"""`python -m modeltrail.topics`: create every modeltrail topic from `MODELTRAIL_KAFKA__*`.

Idempotent; used by docker-compose's one-shot `topics` service and handy against
any external cluster before the services start.
"""

from __future__ import annotations

import asyncio
import sys

from schemas.kafka import ensure_topics
from schemas.settings import KafkaSettings

__all__ = ["main"]


def main(timeout_s: float = 120.0) -> int:
    """Create the topics (waiting up to `timeout_s` for the broker); print their names."""
    settings = KafkaSettings()
    names = asyncio.run(ensure_topics(settings, timeout_s=timeout_s))
    for name in names:
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
