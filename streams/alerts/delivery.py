"""Delivery to one webhook: a bounded queue, one worker, retries with backoff, a dead letter.

Guarantee: every queued item ends in exactly one of "delivered" (a 2xx) or
"dead-lettered" (after `max_attempts` failures, a non-retriable answer, a refused
URL, or a full queue), and only then is it acknowledged (`on_done`), so the
consumer commits its offset. A crash before that replays it: at-least-once, with
the `Idempotency-Key` header (the event id) for receivers to dedupe. A slow or
failing webhook never delays another: each has its own queue and worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import orjson

from schemas.events import EventEnvelope, Violation
from streams.alerts.errors import DeliveryFailed, WebhookRefused
from streams.alerts.formats import to_json, to_ocsf, to_slack
from streams.alerts.settings import WebhookSpec
from streams.alerts.signing import SIGNATURE_HEADER, sign
from streams.alerts.urlguard import UrlGuard

__all__ = ["DeadLetterSink", "Item", "WebhookWorker", "render"]

log = logging.getLogger(__name__)

_RETRIABLE_STATUS = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class Item:
    """One event to deliver, with the callback that acknowledges it."""

    event: EventEnvelope
    on_done: Callable[[], None]
    topic: str
    partition: int
    offset: int


DeadLetterSink = Callable[[Item, str, str], Awaitable[None]]
"""Awaited with (item, webhook name, reason) when an item is given up; returns once stored."""


def render(spec: WebhookSpec, event: EventEnvelope) -> bytes | None:
    """The body `spec` gets for `event`, or None when its format has no form for it."""
    if spec.format == "ocsf":
        return orjson.dumps(to_ocsf(event)) if isinstance(event, Violation) else None
    if spec.format == "slack":
        return orjson.dumps(to_slack(event))
    return orjson.dumps(to_json(event))


class WebhookWorker:
    """Delivers one webhook's queue; start with `start`, stop with `stop` (drains)."""

    def __init__(
        self,
        spec: WebhookSpec,
        client: httpx.AsyncClient,
        guard: UrlGuard,
        dead_letter: DeadLetterSink,
    ) -> None:
        self.spec = spec
        self._client = client
        self._guard = guard
        self._dead_letter = dead_letter
        self._queue: asyncio.Queue[Item] = asyncio.Queue(spec.queue_size)
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.failed_attempts = 0
        self.dead_lettered = 0

    async def offer(self, item: Item) -> None:
        """Queue `item`; a full queue dead-letters it at once (never waits on the webhook)."""
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            await self._give_up(item, "queue full: the webhook is not keeping up")

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"webhook-{self.spec.name}")

    async def stop(self, drain_s: float = 5.0) -> None:
        """Wait up to `drain_s` for queued items, then stop (undelivered ones are replayed)."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), drain_s)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def pending(self) -> int:
        return self._queue.qsize()

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._deliver(item)
            except Exception:  # top-level loop: one bad item must not stop the webhook
                log.exception("webhook_worker_error", extra={"webhook": self.spec.name})
                await self._give_up(item, "internal error")
            finally:
                self._queue.task_done()

    async def _deliver(self, item: Item) -> None:
        body = render(self.spec, item.event)
        if body is None:
            item.on_done()
            return
        delay = self.spec.backoff_s
        reason = ""
        for attempt in range(1, self.spec.max_attempts + 1):
            try:
                await asyncio.to_thread(self._guard.check, self.spec.url)
                await self._post(item.event, body)
            except WebhookRefused as exc:
                reason = str(exc)
                break
            except DeliveryFailed as exc:
                self.failed_attempts += 1
                reason = f"attempt {attempt}: {exc}"
                log.warning(
                    "webhook_attempt_failed",
                    extra={"webhook": self.spec.name, "attempt": attempt, "reason": str(exc)},
                )
                if not exc.retriable:
                    break
                if attempt < self.spec.max_attempts:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.spec.max_backoff_s)
                continue
            self.delivered += 1
            item.on_done()
            return
        await self._give_up(item, reason)

    async def _post(self, event: EventEnvelope, body: bytes) -> None:
        headers = {
            "content-type": "application/json",
            "user-agent": "modeltrail-alerts/1",
            "idempotency-key": event.event_id,
            "x-modeltrail-event-type": event.type,
        }
        if self.spec.secret is not None:
            headers[SIGNATURE_HEADER] = sign(
                self.spec.secret.get_secret_value().encode(), body, int(time.time())
            )
        try:
            response = await self._client.post(
                self.spec.url, content=body, headers=headers, timeout=self.spec.timeout_s
            )
        except httpx.TimeoutException as exc:
            raise DeliveryFailed(f"timed out after {self.spec.timeout_s}s", retriable=True) from exc
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}", retriable=True) from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        retriable = status >= 500 or status in _RETRIABLE_STATUS
        raise DeliveryFailed(f"HTTP {status}", retriable=retriable)

    async def _give_up(self, item: Item, reason: str) -> None:
        self.dead_lettered += 1
        log.error(
            "webhook_dead_letter",
            extra={"webhook": self.spec.name, "event_id": item.event.event_id, "reason": reason},
        )
        await self._dead_letter(item, self.spec.name, reason)
        item.on_done()
