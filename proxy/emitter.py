"""Event emission: a bounded in-memory queue drained by one aiokafka producer.

`publish()` never blocks and never raises: the request path only enqueues.
The drain task sends batches with `acks="all"` (no idempotence: the Tansu
broker lacks it) and waits for every ack before the next batch, so a failed
batch is known record by record.

When the broker is unreachable, `on_broker_down` decides:
- `spool`: unacked and later events are appended to the durable `Spool` in
  order; once a TCP probe sees the broker again, a fresh producer is made, the
  topics are (re)created (a restarted in-memory broker has none) and the spool
  is replayed in order. A record is committed (removed) only after its ack, so
  every event reaches Kafka once; only a broker dying mid-replay can resend
  records acked after the last commit (consumers dedupe on `event_id`).
- `fail_closed`: `accepting()` turns false, the app answers 503; events that
  were already queued are dropped and counted.
- `fail_open`: events are dropped and counted; traffic continues.

A failed spool write never drops a batch and a full spool follows
`on_spool_full` (see `proxy.divert`); while records wait in memory for a
retried write, later events queue up behind them, in order.

Durability (`wal`): `publish()` also writes the event to a write-ahead log
(`proxy.wal`) before returning, so the request path has it on disk before the
response completes; the log is committed as events are acked or spooled, and
replayed (into the spool, in order, ahead of new events) at the next start.
With `memory` an event sits only in memory until the broker acks it.

The queue is bounded (`queue_size`) to protect memory. An event that finds it
full:
- `spool`: is spilled to the spool, nothing lost. The queued events move ahead
  of it and every later event follows them into the spool until the spool has
  been replayed, so one session's events keep their order (only a batch already
  in flight when the broker fails can land behind them). Spilled events wait
  in memory only until the drain's next step writes them to disk.
- `fail_open`: is dropped and counted (`dropped`, `events{fate="dropped"}`).
- `fail_closed`: new requests are refused (503) once the queue is nine-tenths
  full, leaving room for the events of requests already admitted; an event that
  still finds it full is dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Literal

from aiokafka.errors import KafkaError

from proxy.broker_link import BrokerLink
from proxy.divert import SpoolFront, SpoolFullMode
from proxy.errors import BrokerUnavailable
from proxy.metrics import ProxyMetrics
from proxy.settings import ProxySettings
from proxy.spool import Spool, SpoolRecord
from proxy.tasks import cancel_and_wait
from proxy.wal import WriteAheadLog
from schemas.codec import encode, encode_key
from schemas.events import EventEnvelope
from schemas.settings import KafkaSettings

__all__ = ["BrokerMode", "Emitter", "build_emitter"]

_Item = EventEnvelope | SpoolRecord  # an event, or (with `wal`) its record, encoded once

log = logging.getLogger(__name__)

BrokerMode = Literal["spool", "fail_closed", "fail_open"]


class Emitter:
    """Non-blocking event publisher with an explicit broker-down policy."""

    def __init__(
        self,
        kafka: KafkaSettings,
        *,
        mode: BrokerMode = "spool",
        spool: Spool | None = None,
        wal: WriteAheadLog | None = None,
        on_spool_full: SpoolFullMode = "fail_closed",
        queue_size: int = 10_000,
        linger_ms: int = 5,
        gather_ms: float = 3.0,
        batch_max: int = 500,
        request_timeout_ms: int = 3000,
        probe_interval_s: float = 0.5,
        metrics: ProxyMetrics | None = None,
    ) -> None:
        if mode == "spool" and spool is None:
            raise ValueError("mode 'spool' needs a Spool")
        self.kafka = kafka
        self.mode = mode
        self.spool = spool
        # None is a wake-up for the drain: spilled events are waiting (spool mode).
        # With `wal` the request path encodes each event once: the queue holds records.
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue(queue_size)
        self._overflow: list[_Item] = []
        self._spilling = self._wake_pending = False
        self._admit = max(1, queue_size - queue_size // 10)
        self._gather_s = gather_ms / 1000
        self._batch_max = batch_max
        self._probe_s = probe_interval_s
        self._topic_of = kafka.topics.by_model()
        self._link = BrokerLink(kafka, linger_ms=linger_ms, timeout_ms=request_timeout_ms)
        self._healthy = False
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._busy = False
        self._started = False
        self.sent = self.dropped = self.spooled = self.replayed = 0
        self._metrics = metrics
        self._count: dict[str, Callable[[float], None]] = {}
        if metrics is not None:
            metrics.bind_emitter(
                lambda: float(self._queue.qsize()),
                lambda: float(self.spool.pending_bytes if self.spool else 0),
                lambda: 1.0 if self._healthy else 0.0,
            )
            self._count = {
                f: metrics.events.labels(f).inc for f in ("sent", "spooled", "replayed", "dropped")
            }
            self._count["failed"] = metrics.spool_write_failures.inc
        self._front = SpoolFront(
            spool if mode == "spool" else None,
            wal,
            on_full=on_spool_full,
            max_unwritten=queue_size,
            drop=self._drop,
            spooled=self._spooled,
            failed=self._count.get("failed", _ignore),
        )

    # ---- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        """Open the spool, connect (a down broker is not an error), start the tasks."""
        if self._started:
            return
        self._started = True
        self._front.open()
        connected = await self._connect()
        await self._front.recover(self._send)
        if connected and (self.spool is None or self.spool.empty):
            self._healthy = True
        elif self.spool is not None and self._link.connected:
            await self._replay()
        self._tasks = [
            asyncio.create_task(self._drain(), name="emitter-drain"),
            asyncio.create_task(self._watch(), name="emitter-watch"),
        ]
        log.info("emitter_started", extra={"mode": self.mode, "broker_up": self._healthy})

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Drain the queue (sending or spooling it), then close. Idempotent."""
        if not self._started:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while (  # noqa: ASYNC110
            not self._queue.empty() or self._busy or self._overflow
        ) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks = []
        leftover = [self._queue.get_nowait() for _ in range(self._queue.qsize())]
        left = [self._record(e) for e in leftover if e is not None]
        if left:
            await self._divert(left)
            self._front.settled(len(left))
        await self._flush_overflow()  # replayed at the next start
        self._spilling = self._wake_pending = False
        await self._link.close()
        self._front.close()
        self._healthy = False
        self._started = False
        log.info("emitter_stopped", extra=self.stats())

    async def __aenter__(self) -> Emitter:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- the request path ------------------------------------------------

    def publish(self, event: EventEnvelope) -> bool:
        """Enqueue an event; never blocks. Full queue: spilled (`spool`), else dropped (False)."""
        rec = self._record(event) if self._front.wal is not None else None
        item: _Item = event if rec is None else rec
        if self._spilling:
            self._spill(item)
        else:
            try:
                self._queue.put_nowait(item)
            except asyncio.QueueFull:
                if self.mode != "spool":
                    self._drop(1)
                    return False
                # Everything queued is older: it goes to the spool first, in order.
                self._overflow = [e for e in self._drain_queue() if e is not None]
                self._spilling = True
                self._spill(item)
        if rec is not None:
            self._front.log_event(rec)
        return True

    def accepting(self) -> bool:
        """False in `fail_closed` mode while the broker is down or the queue nearly full."""
        if self._front.full and not self._front.has_room():
            return False
        if self.mode != "fail_closed":
            return True
        return self._healthy and self._queue.qsize() < self._admit

    @property
    def healthy(self) -> bool:
        return self._healthy

    async def send(self, event: EventEnvelope) -> None:
        """Send one event now and wait for its ack (control API commands).

        Raises:
            BrokerUnavailable: the broker did not ack.
        """
        if not self._healthy:
            raise BrokerUnavailable("the event broker is unreachable")
        try:
            await self._link.send_one(*self._record(event))
        except (KafkaError, TimeoutError) as exc:
            raise BrokerUnavailable(f"broker did not ack: {type(exc).__name__}") from exc
        self.sent += 1

    def stats(self) -> dict[str, object]:
        """Queue depth and counters for /control/stats."""
        return {
            "mode": self.mode,
            "broker_up": self._healthy,
            "queue_depth": self._queue.qsize(),
            "sent": self.sent,
            "dropped": self.dropped,
            "spooled": self.spooled,
            "replayed": self.replayed,
            "spilling": self._spilling,
            "spool_bytes": self.spool.pending_bytes if self.spool else 0,
            "spool_full": self._front.full,
            "spool_write_failures": self._front.write_failures,
            "durability": "wal" if self._front.wal is not None else "memory",
        }

    # ---- internals ---------------------------------------------------------

    def _record(self, item: _Item) -> SpoolRecord:
        if isinstance(item, tuple):
            return item
        return self._topic_of[type(item)], encode_key(item), encode(item)

    def _drain_queue(self) -> list[_Item | None]:
        return [self._queue.get_nowait() for _ in range(self._queue.qsize())]

    def _spill(self, item: _Item) -> None:
        """Hold `item` for the spool and make sure the drain wakes up to write it."""
        self._overflow.append(item)
        if not self._wake_pending:
            with contextlib.suppress(asyncio.QueueFull):  # cannot be full: spilling empties it
                self._queue.put_nowait(None)
                self._wake_pending = True

    async def _flush_overflow(self) -> None:
        """Write spilled events to the spool in order (with the lock held, or after stop)."""
        if self._front.unwritten:
            await self._divert([])
        while self._overflow and not self._front.unwritten:
            events, self._overflow = self._overflow, []
            await self._divert([self._record(e) for e in events])
            self._front.settled(len(events))

    async def _unspill(self) -> None:
        """Spilled events waiting: replay them now if the broker is up, else only store them."""
        self._wake_pending = False
        if self._healthy:
            await self._replay()
        else:
            async with self._lock:
                await self._flush_overflow()

    def _drop(self, n: int) -> None:
        self.dropped += n
        if self._count:
            self._count["dropped"](n)

    async def _connect(self) -> bool:
        """A fresh producer (topics ensured); False while the broker is down."""
        if await self._link.connect():
            return True
        log.warning("broker_unreachable", extra={"bootstrap": self.kafka.bootstrap_servers})
        return False

    async def _send(self, records: list[SpoolRecord]) -> list[SpoolRecord]:
        """Send a batch and wait for every ack; return the records NOT acked, in order."""
        failed = await self._link.send_batch(records)
        ok = len(records) - len(failed)
        self.sent += ok
        if self._count and ok:
            self._count["sent"](ok)
        return failed

    async def _divert(self, records: list[SpoolRecord]) -> None:
        """Broker down: spool the records (mode `spool`) or drop and count them."""
        if self._front.spool is None:
            self._drop(len(records))
        elif not await self._front.write(records):
            self._spilling = True  # later events queue up behind the unwritten ones

    def _spooled(self, n: int) -> None:
        self.spooled += n
        if self._count:
            self._count["spooled"](n)

    async def _drain(self) -> None:
        while True:
            first = await self._queue.get()
            self._busy = True
            try:
                if self._gather_s:
                    # Let the request path run first and collect a bigger batch: one
                    # wake-up per few requests instead of one per event.
                    await asyncio.sleep(self._gather_s)
                batch = [first]
                while len(batch) < self._batch_max and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                records = [self._record(e) for e in batch if e is not None]
                if records:
                    async with self._lock:
                        if self._healthy and not self._front.unwritten:
                            failed = await self._send(records)
                            if failed:
                                self._mark_down()
                                await self._divert(failed)
                        else:
                            await self._divert(records)
                        self._front.settled(len(records))
                if self._spilling and len(records) < len(batch):
                    await self._unspill()
            except Exception:  # top-level loop: log and keep draining
                log.exception("emitter_drain_failed")
            finally:
                self._busy = False

    def _mark_down(self) -> None:
        if self._healthy:
            self._healthy = False
            log.warning("broker_down", extra={"mode": self.mode})

    async def _watch(self) -> None:
        """Notice a dead broker early; when it is back, reconnect and replay the spool."""
        while True:
            await asyncio.sleep(self._probe_s)
            try:
                up = await self._link.probe()
                if self._healthy:
                    if not up:
                        self._mark_down()
                    continue
                if up and await self._connect():
                    await self._replay()
            except Exception:  # top-level loop: log and keep watching
                log.exception("emitter_watch_failed")

    async def _replay(self) -> None:
        """Send the spool in order, committing after acks; healthy again once it is empty.

        Spilled events are written to the spool first, so they are sent in their turn;
        spilling ends when both are empty.
        """
        while True:
            async with self._lock:
                await self._flush_overflow()
                if self._front.unwritten:  # the spool is failing: stay down, retry later
                    self._mark_down()
                    return
                spool = self.spool
                batch = spool.read(self._batch_max) if spool is not None else []
                if not batch:
                    self._spilling = False
                    self._healthy = True
                    log.info("broker_up", extra={"replayed": self.replayed})
                    return
                assert spool is not None
                failed = await self._send([rec for rec, _ in batch])
                n_ok = len(batch) - len(failed)
                if failed:
                    # Commit only the acked prefix: order is kept, nothing skipped.
                    first_fail = next(i for i, (rec, _) in enumerate(batch) if rec in failed)
                    if first_fail:
                        spool.commit(batch[first_fail - 1][1])
                    self.replayed += first_fail
                    self._mark_down()
                    return
                spool.commit(batch[-1][1])
                self.replayed += n_ok
                if self._count:
                    self._count["replayed"](n_ok)


def _ignore(n: int) -> None:
    pass


def build_emitter(settings: ProxySettings, metrics: ProxyMetrics | None = None) -> Emitter:
    """The emitter the settings ask for (with its spool in `spool` mode, its log for `wal`)."""
    spool = wal = None
    cap = settings.spool_max_bytes
    if settings.on_broker_down == "spool":
        spool = Spool(settings.spool_dir, fsync=settings.spool_fsync, max_bytes=cap)
    if settings.durability == "wal":
        wal = WriteAheadLog(
            Spool(
                settings.spool_dir / "wal", fsync="never", compact_bytes=4 << 20, lazy_position=True
            ),
            fsync_interval_s=settings.wal_fsync_ms / 1000,
        )
    return Emitter(
        settings.kafka,
        mode=settings.on_broker_down,
        spool=spool,
        wal=wal,
        on_spool_full=settings.on_spool_full,
        queue_size=settings.queue_size,
        linger_ms=settings.emit_linger_ms,
        gather_ms=settings.emit_gather_ms,
        request_timeout_ms=settings.emit_timeout_ms,
        metrics=metrics,
    )
