"""Topic creation and consumer-group health, shared by `modeltrail up`, the services and the tests."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from schemas.settings import KafkaSettings

_T = TypeVar("_T")

__all__ = ["describe_ok", "ensure_topics", "group_stable", "stop_consumer", "with_admin"]

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

    async def create(admin: AIOKafkaAdminClient, deadline: float) -> list[str]:
        # CreateTopics answers per topic and aiokafka raises for none of them: a
        # topic the broker failed to make (Tansu on `s3://` under load) would go
        # unnoticed until a client waited for it. Done only once every topic is listed.
        while True:
            existing = set(await admin.list_topics())
            missing = [t for n, t in wanted.items() if n not in existing]
            if not missing:
                return list(wanted)
            try:
                response = await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                continue
            failed = {
                topic: (code, message)
                for topic, code, message in _topic_errors(response)
                if code not in (0, TopicAlreadyExistsError.errno)
            }
            if failed:
                log.warning("topics_not_created", extra={"errors": failed})
            else:
                log.info("topics_created", extra={"topics": [t.name for t in missing]})
            if asyncio.get_running_loop().time() > deadline:
                raise KafkaError(f"topics not created: {failed or [t.name for t in missing]}")
            await asyncio.sleep(0.1 if not failed else 0.5)  # a new topic is listed a bit later

    return await with_admin(settings, create, timeout_s=timeout_s)


async def with_admin(
    settings: KafkaSettings,
    work: Callable[[AIOKafkaAdminClient, float], Awaitable[_T]],
    *,
    timeout_s: float = 30.0,
) -> _T:
    """`work(admin, deadline)` on a fresh admin client, retried until `timeout_s` passed.

    Raises the last KafkaError when the broker could not be reached in time.
    """
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(**settings.client_kwargs())  # type: ignore[arg-type]
        try:
            await admin.start()
            return await work(admin, deadline)
        except KafkaError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


async def stop_consumer(consumer: AIOKafkaConsumer) -> None:
    """`consumer.stop()`, without aiokafka 0.14.0's stray CancelledError.

    Its fetcher's close cancels the pending fetch tasks and awaits them; one caught
    in its retry backoff after a failed fetch (the broker just died) raises the
    CancelledError out of `stop()`, which then never closes the client's
    connections. Here that error is swallowed (unless this task itself is being
    cancelled) and the client closed; a KafkaError while stopping is logged, not raised.
    """
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # we are being cancelled ourselves: propagate
        log.warning("consumer_stop_cancelled")
        await consumer._client.close()
    except KafkaError as exc:
        log.warning("consumer_stop_failed", extra={"error": str(exc)})


def _topic_errors(response: object) -> list[tuple[str, int, str | None]]:
    """(topic, error code, message) of a CreateTopics response of any version."""
    rows = getattr(response, "topic_errors", [])
    return [(row[0], row[1], row[2] if len(row) > 2 else None) for row in rows]


def describe_ok(description: dict[str, object], group_id: str) -> bool:
    """Whether a DescribeGroups result says `group_id` is Stable with members."""
    groups = description.get("groups")
    if not isinstance(groups, list):
        return False
    for group in groups:
        if isinstance(group, dict) and group.get("group") == group_id:
            members = group.get("members")
            return (
                group.get("error_code") == 0
                and group.get("state") == "Stable"
                and isinstance(members, list)
                and len(members) > 0
            )
    return False


async def group_stable(settings: KafkaSettings, group_id: str, timeout_s: float = 5.0) -> bool:
    """Whether the consumer group is Stable with at least one member."""
    admin = AIOKafkaAdminClient(
        **settings.client_kwargs(), request_timeout_ms=int(timeout_s * 1000)
    )  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        responses = await asyncio.wait_for(admin.describe_consumer_groups([group_id]), timeout_s)
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await admin.close()
    return any(describe_ok(r.to_object(), group_id) for r in responses)
