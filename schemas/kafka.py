"""Topic creation, shared by `modeltrail up`, the services and the tests."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from schemas.settings import KafkaSettings

__all__ = ["ensure_topics"]

log = logging.getLogger(__name__)


async def ensure_topics(settings: KafkaSettings, *, timeout_s: float = 30.0) -> list[str]:
    """Create every modeltrail topic that does not exist yet; return the names.

    `session.commands` and `identity.keys` are compacted: the latest command per
    session (key record per key id) is what every proxy replica replays at start-up.
    Idempotent.
    """
    topics = settings.topics
    wanted = {
        name: NewTopic(
            name,
            settings.partitions,
            settings.replication_factor,
            topic_configs={"cleanup.policy": "compact"} if name in topics.compacted() else None,
        )
        for name in topics.all()
    }
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(**settings.client_kwargs())  # type: ignore[arg-type]
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for n, t in wanted.items() if n not in existing]
            if missing:
                try:
                    await admin.create_topics(missing)
                except TopicAlreadyExistsError:
                    pass
                log.info("topics_created", extra={"topics": [t.name for t in missing]})
            return list(wanted)
        except KafkaError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
