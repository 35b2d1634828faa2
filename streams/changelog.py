"""The session table's changelog topic, checked before faust starts and replaced when unusable.

faust's recovery reads each changelog partition up to its last offset before the
worker judges anything, and waits for ever for a last record it cannot read. After
the embedded broker restarted empty, the worker still running on the old logs wrote
its state with the old metadata: Tansu (memory storage) accepts a write to a topic
that no longer exists, counts it in the partition's end offset, and never serves it
once the topic is created again. The next worker's recovery then waited for that
phantom record ("No event received for active tp") and no event was judged again.
A broker creating the topic by itself (Tansu does, with four partitions, for a topic
named in a metadata request) gives a changelog whose partitions do not match the
table's, as unusable. So at every worker start, before faust: a changelog whose
partition count is not the table's, or whose last record cannot be read, is
deleted, and faust creates it again, empty (Tansu forgets the phantom with the
topic). A missing changelog is created only to look under it (a phantom shows at
once) and deleted again: faust creates the one it declares, as without this check.
What is lost is session state the old logs described; the events are judged again
from the committed offsets. The check delays faust's start by a few seconds, so
`modeltrail up` takes the worker for ready only on faust's ready line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from schemas.kafka import stop_consumer, with_admin
from schemas.settings import KafkaSettings

__all__ = ["changelog_topic", "ensure_changelog"]

log = logging.getLogger(__name__)

#: How long a changelog partition's last record may take to arrive before it counts
#: as unreadable. Generous (a false alarm costs the table's state): with Tansu's s3
#: storage a fetch reads only within its wait, after listing the partition's history.
_READ_TIMEOUT_S = 10.0
_READ_WAIT_MS = 2000


def changelog_topic(app_id: str, table: str) -> str:
    """The name faust gives the changelog topic of `table` in app `app_id`."""
    return f"{app_id}-{table}-changelog"


async def ensure_changelog(kafka: KafkaSettings, name: str, *, timeout_s: float = 30.0) -> None:
    """Create `name` (compacted, `kafka.partitions` partitions), replacing a mismatched one.

    Raises KafkaError when the broker cannot be reached within `timeout_s`.
    """
    await with_admin(kafka, partial(_ensure, kafka, name), timeout_s=timeout_s)


async def _ensure(
    kafka: KafkaSettings, name: str, admin: AIOKafkaAdminClient, deadline: float
) -> None:
    created = name not in set(await admin.list_topics())
    if created:
        # Created only to look under it: a phantom write shows in a new topic at once.
        await _create(admin, kafka, name)
    described = await admin.describe_topics([name])
    partitions = len(described[0].get("partitions", [])) if described else 0
    unreadable = await _unreadable(kafka, name, partitions) if partitions else []
    usable = partitions == kafka.partitions and not unreadable
    if usable and not created:
        return
    if not usable:
        log.warning(
            "changelog_replaced",
            extra={
                "topic": name,
                "partitions": partitions,
                "expected": kafka.partitions,
                "unreadable": unreadable,
            },
        )
    # faust creates the changelog it declares itself; a topic created here only to
    # look, or an unusable one, is deleted (Tansu forgets a phantom with its topic).
    await admin.delete_topics([name])
    while name in set(await admin.list_topics()):
        if asyncio.get_running_loop().time() > deadline:
            raise KafkaError(f"{name} was not deleted")
        await asyncio.sleep(0.2)


async def _create(admin: AIOKafkaAdminClient, kafka: KafkaSettings, name: str) -> None:
    topic = NewTopic(
        name,
        kafka.partitions,
        kafka.replication_factor,
        topic_configs={"cleanup.policy": "compact"},
    )
    with contextlib.suppress(TopicAlreadyExistsError):
        await admin.create_topics([topic])


async def _unreadable(
    kafka: KafkaSettings, name: str, partitions: int, timeout_s: float = _READ_TIMEOUT_S
) -> list[int]:
    """Partitions of `name` whose last record cannot be read within `timeout_s`."""
    consumer = AIOKafkaConsumer(
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=_READ_WAIT_MS,
        **kafka.client_kwargs(),  # type: ignore[arg-type]
    )
    await consumer.start()
    try:
        tps = [TopicPartition(name, p) for p in range(partitions)]
        consumer.assign(tps)
        begins = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        waiting = {tp for tp in tps if ends[tp] > begins[tp]}
        for tp in waiting:
            consumer.seek(tp, max(begins[tp], ends[tp] - 1))
        deadline = asyncio.get_running_loop().time() + timeout_s
        while waiting and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(*waiting, timeout_ms=_READ_WAIT_MS)
            waiting -= {tp for tp, records in batch.items() if records}
        return sorted(tp.partition for tp in waiting)
    finally:
        await stop_consumer(consumer)
