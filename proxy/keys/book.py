"""`KeyBook`: the key registry of one replica, fed by the compacted `identity.keys` topic.

Every replica replays `identity.keys` from the beginning at start-up (no
consumer group; `start()` returns only once the replay reached the end offsets
seen at start, so a replica never serves before it knows every key and every
disable) and then follows it live, with the same `TopicFollower` as
`session.commands`. A change made through this replica's control API is
applied here at once and written to the topic with `acks="all"` before the
call returns; the other replicas apply it within the follower's fetch wait.

Delivery: at-least-once into the registry, which keeps the newest version per
key id, so replays and duplicates are harmless. Records that do not decode are
counted and logged (by offset, never by content) and skipped.
"""

from __future__ import annotations

import logging
from typing import Protocol

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from proxy.enforcement.commands import TopicFollower
from proxy.keys.errors import KeyBookError
from proxy.keys.registry import KeyRegistry
from schemas.identity import KeyRecord
from schemas.settings import KafkaSettings

__all__ = ["KeyBook", "KeySource"]

log = logging.getLogger(__name__)


class KeySource(Protocol):
    """What the gate and the control API need: a registry kept current, and writes."""

    registry: KeyRegistry
    secret: bytes

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def write(self, record: KeyRecord) -> None:
        """Apply here and publish to every replica. Raises KeyBookError."""


class KeyBook:
    """Registry + follower of `identity.keys` + a producer for this replica's changes."""

    def __init__(
        self,
        kafka: KafkaSettings,
        secret: bytes,
        *,
        fetch_max_wait_ms: int = 50,
        replay_timeout_s: float = 30.0,
    ) -> None:
        self.kafka = kafka
        self.registry = KeyRegistry(secret)
        self.secret = secret
        self.topic = kafka.topics.keys
        self._follower = TopicFollower(
            kafka,
            self.topic,
            self._on_record,
            from_beginning=True,
            fetch_max_wait_ms=fetch_max_wait_ms,
            replay_timeout_s=replay_timeout_s,
        )
        self._producer: AIOKafkaProducer | None = None
        self.undecodable = 0

    @property
    def following(self) -> bool:
        return self._follower.running

    @property
    def replayed(self) -> int:
        return self._follower.replayed

    async def start(self) -> None:
        """Replay the topic to its end, then follow it. Idempotent.

        Raises:
            EnforcementError: (ReplayTimeout, CommandTopicMissing) the topic cannot be read.
        """
        await self._follower.start()
        log.info("keys_loaded", extra={"keys": len(self.registry), "replayed": self.replayed})

    async def stop(self) -> None:
        """Stop following and writing; idempotent."""
        await self._follower.stop()
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except KafkaError as exc:
                log.warning("keys_producer_stop_failed", extra={"error": str(exc)})

    async def _on_record(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            key_record = KeyRecord.model_validate_json(record.value or b"")
        except ValidationError:
            self.undecodable += 1
            log.warning(
                "key_record_undecodable",
                extra={
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                },
            )
            return
        if self.registry.apply(key_record):
            log.info(
                "key_changed", extra={"key_id": key_record.key_id, "disabled": key_record.disabled}
            )

    async def write(self, record: KeyRecord) -> None:
        """Apply `record` here and write it to the topic (acked) for every replica.

        Raises:
            KeyBookError: the broker did not take it (it is applied here only).
        """
        self.registry.apply(record)
        try:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    **self.kafka.client_kwargs(),  # type: ignore[arg-type]
                    acks="all",
                    enable_idempotence=False,
                    request_timeout_ms=10_000,
                )
                await producer.start()
                self._producer = producer
            await self._producer.send_and_wait(
                self.topic, record.model_dump_json().encode(), key=record.key_id.encode()
            )
        except KafkaError as exc:
            raise KeyBookError(f"key {record.key_id} not written to {self.topic}: {exc}") from exc
