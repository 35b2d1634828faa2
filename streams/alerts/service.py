"""The alerts service: consumes `audit.violations` and `session.commands` with its own
consumer group and delivers each selected event to the configured webhooks.

Delivery guarantee: at-least-once per (event, webhook). Offsets are committed only
once every delivery an event started is delivered or dead-lettered (`OffsetTracker`);
a crash replays the rest, and receivers dedupe on the `Idempotency-Key` header.
Undecodable records and given-up deliveries go to `audit.deadletter`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from schemas.codec import decode, encode, encode_key
from schemas.deadletter import dead_letter
from schemas.errors import DecodeError
from schemas.events import DeadLetter
from schemas.kafka import stop_consumer
from streams.alerts.delivery import Item, WebhookWorker
from streams.alerts.offsets import OffsetTracker
from streams.alerts.selection import Throttle, matches
from streams.alerts.settings import AlertsSettings
from streams.alerts.urlguard import UrlGuard

__all__ = ["AlertService"]

log = logging.getLogger(__name__)


class AlertService:
    """One alerts consumer; `run()` until `stop()`."""

    def __init__(self, settings: AlertsSettings) -> None:
        self.settings = settings
        self.guard = UrlGuard(settings.allow_hosts)
        for spec in settings.webhooks:
            self.guard.check(spec.url)  # refuse a bad URL at start-up, loudly
        self.throttle = Throttle(settings.throttle_s, settings.throttle_sessions)
        self.tracker = OffsetTracker()
        self._stop = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        self._producer: AIOKafkaProducer | None = None
        self.workers: list[WebhookWorker] = []
        self.decode_errors = 0

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        kafka = self.settings.kafka
        topics = kafka.topics
        consumer = AIOKafkaConsumer(
            topics.violations,
            topics.commands,
            group_id=self.settings.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **kafka.client_kwargs(),  # type: ignore[arg-type]
        )
        self._producer = AIOKafkaProducer(acks="all", **kafka.client_kwargs())  # type: ignore[arg-type]
        self._client = httpx.AsyncClient(follow_redirects=False)
        self.workers = [
            WebhookWorker(spec, self._client, self.guard, self._dead_letter)
            for spec in self.settings.webhooks
        ]
        await self._producer.start()
        await consumer.start()
        for worker in self.workers:
            await worker.start()
        log.info("alerts_started", extra={"webhooks": [w.spec.name for w in self.workers]})
        try:
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=500)
                for tp, records in batches.items():
                    for record in records:
                        await self._dispatch(tp, record)
                await self._commit(consumer)
        finally:
            for worker in self.workers:
                await worker.stop()
            with contextlib.suppress(KafkaError):
                await self._commit(consumer)
            await stop_consumer(consumer)
            await self._producer.stop()
            await self._client.aclose()
            log.info("alerts_stopped")

    async def _dispatch(self, tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        key = (tp.topic, tp.partition)
        try:
            if record.value is None:  # a tombstone on the compacted commands topic
                self.tracker.add(key, record.offset, 0)
                return
            event = decode(record.value)
        except DecodeError as exc:
            self.decode_errors += 1
            await self._publish_dead_letter(
                dead_letter(
                    topic=tp.topic,
                    partition=tp.partition,
                    offset=record.offset,
                    key=record.key,
                    value=record.value,
                    reason=f"undecodable: {exc}",
                    consumer="alerts",
                    source=self.settings.instance_id,
                )
            )
            self.tracker.add(key, record.offset, 0)
            return
        now = time.monotonic()
        chosen = [
            w
            for w in self.workers
            if matches(w.spec, event) and self.throttle.admit(w.spec.name, event, now)
        ]
        self.tracker.add(key, record.offset, len(chosen))
        offset = record.offset

        def on_done() -> None:
            self.tracker.done(key, offset)

        for worker in chosen:
            item = Item(
                event=event,
                on_done=on_done,
                topic=tp.topic,
                partition=tp.partition,
                offset=record.offset,
            )
            await worker.offer(item)

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        offsets = {
            TopicPartition(t, p): o
            for (t, p), o in self.tracker.committable().items()
            if TopicPartition(t, p) in consumer.assignment()
        }
        if offsets:
            await consumer.commit(offsets)

    async def _dead_letter(self, item: Item, webhook: str, reason: str) -> None:
        await self._publish_dead_letter(
            dead_letter(
                topic=item.topic,
                partition=item.partition,
                offset=item.offset,
                key=item.event.session_id.encode(),
                value=None,
                reason=f"webhook {webhook}: {reason}",
                consumer=f"alerts:{webhook}",
                source=self.settings.instance_id,
            )
        )

    async def _publish_dead_letter(self, letter: DeadLetter) -> None:
        """Send a dead letter, retrying until the broker takes it (the offset waits for it)."""
        assert self._producer is not None
        delay = 0.2
        while True:
            try:
                await self._producer.send_and_wait(
                    self.settings.kafka.topics.deadletter, encode(letter), key=encode_key(letter)
                )
                return
            except KafkaError as exc:
                log.warning("alerts_deadletter_retry", extra={"error": repr(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
