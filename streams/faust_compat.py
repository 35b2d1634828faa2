"""Everything modeltrail does to faust-streaming and aiokafka beyond their public API.

Written for faust-streaming 0.15.3 and aiokafka 0.14.0, pinned exactly in
pyproject.toml. `tests/unit/streams/test_faust_compat.py` fails when the installed
versions differ or when the source of any upstream function listed in
`UPSTREAM_SOURCES` changes (a SHA-256 of each); `check()` runs at start-up and
refuses to start on other versions or when a private attribute used here is gone.
The rest of `streams/` sees only `TunedApp`, `BoundedWorker`, `run_batches`
(batches of records in, acked after the handler returns) and `check`.

Inventory
=========
Upstream functions replaced or wrapped here (hashed in `UPSTREAM_SOURCES`):

* `Consumer._drain_messages` (faust.transport.consumer): replaced. The fetcher hands
  each message to the conductor directly instead of wrapping every delivery in
  `wait_first(callback, suspend_flow)` (four tasks and an `asyncio.wait` per message,
  more than judging the event costs); a rebalance interrupts a blocked delivery by
  cancelling the queue's waiting putters, which the loop absorbs while the flow is
  suspended. Plus: a jump in offsets on an event topic (no compaction, no
  transactions there) is re-read, not acked (`_rewind`); records of event topics are
  not delivered while the group rebalances but rewound (`_hold`): faust resumes its
  flow control only at the end of recovery, *after* seeking to the committed offsets,
  and that resume clears every agent queue, so records delivered in between were lost
  (the rebalance losses of issue 4). There is no switch back to upstream's loop: it
  loses events across a rebalance.
* `Consumer.perform_seek`: replaced. After the seek the read offset is the last
  offset read (committed - 1), as everywhere else in the fetch loop; upstream stores
  the committed offset itself, so a gap right after the seek was measured one short.
* `Consumer.force_commit`: wrapped. Flushes the write-behind session store
  (`streams.state_cache`) first: the changelog is written before the offsets it covers.
* `aiokafka Consumer._new_consumer_thread`: replaced, to use the thread class below.
* `AIOKafkaConsumerThread._create_worker_consumer`: wrapped. Sets aiokafka's private
  `AIOKafkaConsumer._fetch_max_wait_ms` (faust hard-codes 1500 ms; a broker that
  waits out the long-poll would delay a kill by 1.5 s). aiokafka reads it in
  `AIOKafkaConsumer.start` when it builds its fetcher.
* `App._new_transport`: replaced, to use `TunedTransport`.
* `Conductor._build_handler`: replaced for a partition read by one raw-bytes channel
  (the judge agent's source): `_raw_handler` does what the handler of
  `ConductorCompiler.build` does (flow control, the producer-buffer wait as
  `ProducerBuffer.size` measures it, queue pressure) without faust's codec and
  settings lookups per message. Other partitions get upstream's handler.
* `Worker._on_sigint` / `Worker._on_sigterm`: wrapped. A thread arms a deadline
  first, so a stop stuck in a broker call exits after `shutdown_timeout_s`.
* `Channel.__aiter__`: not replaced, relied on: `run_batches` reads the agent's
  channel iterator's `.queue` directly (batches without faust's per-event Stream).
* `Monitor.on_stream_event_in`: not called (there is no Stream per event), so
  `run_batches` sets what faust's liveness check reads from it,
  `monitor.stream_inbound_time[tp]`, for every partition of a batch. Without it the
  consumer logs "Stream has not started processing TP(...)" at ERROR every few
  seconds while fully caught up.

Private names used without replacing anything (checked by `check()`):
faust `Consumer` `_read_offset`, `_committed_offset`, `_n_acked`, `_commit_every`,
`_stopped`, `_seek`, `_add_gap`, `seek_to_committed`, `getmany`, `diag`,
`suspend_flow`, `callback`, `consumer_stopped_errors`; the fetcher's `_stopped`;
aiokafka `AIOKafkaConsumer._fetch_max_wait_ms`; faust `App.rebalancing`.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
import logging
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any, Protocol, cast

import aiokafka
import faust
from faust.sensors.monitor import Monitor
from faust.transport.conductor import Conductor
from faust.transport.consumer import CONSUMER_FETCHING, ensure_TP
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message

from streams.errors import StreamsConfigError
from streams.processor import EventRecord

__all__ = [
    "PINNED",
    "UPSTREAM_SOURCES",
    "BoundedWorker",
    "TunedApp",
    "TunedTransport",
    "check",
    "mark_inbound",
    "run_batches",
    "upstream_functions",
]

log = logging.getLogger(__name__)

#: The exact versions the code below was written and tested against.
PINNED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}

#: SHA-256 of the source of every upstream function replaced, wrapped or relied on.
UPSTREAM_SOURCES = {
    "faust.transport.consumer.Consumer._drain_messages": "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417",
    "faust.transport.consumer.Consumer.perform_seek": "0e8c130ff4b0afd82c0be9c5fd831316e10febc62c94032833911096e156d7c6",
    "faust.transport.consumer.Consumer.force_commit": "cc094614d22c70fb03606f8e5b940fddedcc7d46648d53ae6ec53cab1546be13",
    "faust.transport.consumer.Consumer.getmany": "4b168d84882a70d6e3e2f9804430a63b92f8fd117d3187cbb4aeb54305bda34e",
    "faust.transport.consumer.Consumer._add_gap": "4df2573ded7c1c2cde04dc6bde6d4480cb5875ef565256e56966b585ae39b1c1",
    "faust.transport.consumer.ThreadDelegateConsumer._seek": "4f95c631420410a5fe6ecb1eff2f9010d7cfff6861fe00d41889bb31bd7df8b1",
    "faust.transport.consumer.ThreadDelegateConsumer.seek_to_committed": "f1d483b861b0328b4f0be90a4abc3f95063d52573c87db4a87b6016105f2b7de",
    "faust.transport.drivers.aiokafka.Consumer._new_consumer_thread": "0870ec53dea75083995e3565c0f0a25a1c63ecceaeb238e92e2585e3623af5a9",
    "faust.transport.drivers.aiokafka.AIOKafkaConsumerThread._create_worker_consumer": "c2701bfc3e6f6cad95c2be36d6a255a86e2c57d18d36cc1082b5fb5c482d99d7",
    "faust.app.base.App._new_transport": "42db531312dd776fc3937154a32f19eeb9ad7d4ebc2722a92d081a2d271baea1",
    "faust.worker.Worker._on_sigint": "327193230c65ea83db83983b7a0a5f983e1658e3f4271a506838d96f507283f1",
    "faust.worker.Worker._on_sigterm": "ba99cf23ea875c02ec56789188908e790bfa29ed6c8b7021e1ce939ade9c56b6",
    "faust.channels.Channel.__aiter__": "f0fdf0d7125731341039a6de582139901d8fa30d430d558bbd0cb24d1cb1365a",
    "aiokafka.consumer.consumer.AIOKafkaConsumer.start": "2f1ba70443327538800d348e61042cdedd5a5e6306f40ebe1a06dddba7494c45",
    "faust.sensors.monitor.Monitor.on_stream_event_in": "df6d2e5f6397ce441d1fdeb83cb7cb5893a33e507e5e0c8caad38e6a916d838d",
    "faust.transport.conductor.Conductor._build_handler": "5c071d1277988c57e4bb62e25551981babd67d6544d85db9b14bdb0d8aa1b56d",
    "faust.transport.conductor.ConductorCompiler.build": "837cf521368c1ee4b22c235a2b137f665eca03d0e3e01b5ddedb65232ee73bf2",
    "faust.transport.producer.ProducerBuffer.size": "b543a978fdece62e7d7c434eea6e842995d67cc1d3288434f5f26ad72c10a779",
}  # fmt: skip

_PRIVATE: list[tuple[type, tuple[str, ...]]] = [
    (
        faust_aiokafka.Consumer,
        ("_read_offset", "_committed_offset", "_n_acked", "_commit_every", "_stopped",
         "_seek", "_add_gap", "seek_to_committed", "getmany", "diag", "suspend_flow",
         "callback", "consumer_stopped_errors", "_drain_messages", "perform_seek"),
    ),
    (faust_aiokafka.AIOKafkaConsumerThread, ("_create_worker_consumer",)),
    (aiokafka.AIOKafkaConsumer, ("_fetch_max_wait_ms",)),
    (faust.App, ("rebalancing", "_new_transport", "monitor")),
    (Monitor, ("stream_inbound_time",)),
    (faust.Worker, ("_on_sigint", "_on_sigterm")),
    (Conductor, ("_build_handler",)),
]  # fmt: skip

_MAX_REWINDS = 5
_HOLD_PAUSE_S = 0.01  # between fetches while records are held during a rebalance


def upstream_functions() -> dict[str, Callable[..., Any]]:
    """The upstream functions of `UPSTREAM_SOURCES`, by dotted name (a property: its getter)."""
    found: dict[str, Callable[..., Any]] = {}
    for name in UPSTREAM_SOURCES:
        module, cls, attr = name.rsplit(".", 2)
        func = inspect.getattr_static(getattr(importlib.import_module(module), cls), attr)
        found[name] = cast(Callable[..., Any], getattr(func, "fget", func))  # a property
    return found


def source_hash(func: Callable[..., Any]) -> str:
    """SHA-256 of a function's source text."""
    return hashlib.sha256(inspect.getsource(func).encode()).hexdigest()


def _has(cls: type, name: str) -> bool:
    """A class attribute, or one some `__init__` in the MRO assigns to `self`."""
    if hasattr(cls, name):
        return True
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            if f"self.{name} =" in inspect.getsource(init) or f"self.{name}:" in inspect.getsource(
                init
            ):
                return True
        except (OSError, TypeError):
            continue
    return False


def check() -> None:
    """Refuse to start on faust/aiokafka versions or internals this module was not written for.

    Raises:
        StreamsConfigError: naming the version or every missing private attribute.
    """
    problems = []
    for dist, wanted in PINNED.items():
        try:
            found = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found = "missing"
        if found != wanted:
            problems.append(f"{dist} {found} installed, streams.faust_compat needs {wanted}")
    for cls, names in _PRIVATE:
        for name in names:
            if not _has(cls, name):
                problems.append(f"{cls.__module__}.{cls.__qualname__}.{name} no longer exists")
    if problems:
        raise StreamsConfigError("faust compatibility: " + "; ".join(problems))


class _Flushable(Protocol):
    def flush(self) -> int: ...


class TunedApp(faust.App):
    """faust.App with a tunable consumer fetch wait and a write-behind session store."""

    fetch_max_wait_ms: int = 10
    gapped_topics: frozenset[str] = frozenset()
    session_store: _Flushable | None = None
    spend_book: _Flushable | None = None

    def _new_transport(self) -> Any:
        return TunedTransport(self.conf.broker_consumer, self)


async def run_batches(
    stream: faust.StreamT[bytes],
    *,
    batch_size: int,
    linger_s: float,
    handle: Callable[[list[EventRecord]], Awaitable[None]],
) -> None:
    """Hand the agent's records to `handle` in batches; ack each batch after it returns.

    Batches come straight off the agent's channel queue, without faust's per-event
    Stream machinery (it costs more than judging the event). After the first event a
    short linger lets the conductor, which hands over one message at a time, fill
    the batch. An exception from `handle` propagates with the batch unacked.
    """
    queue = cast(faust.ChannelT[bytes], aiter(stream.channel)).queue
    while not stream.should_stop:
        try:
            events = [await queue.get()]
        except StopAsyncIteration:  # the channel closes when the worker stops
            return
        if linger_s and queue.qsize() < batch_size:
            await asyncio.sleep(linger_s)
        while len(events) < batch_size and not queue.empty():
            events.append(queue.get_nowait())
        mark_inbound(stream.app.monitor, {e.message.tp for e in events})
        await handle(
            [
                EventRecord(
                    topic=e.message.topic,
                    partition=e.message.partition,
                    offset=e.message.offset,
                    key=e.message.key,
                    value=e.message.value,
                    timestamp_ms=int(e.message.timestamp * 1000),
                )
                for e in events
            ]
        )
        for e in events:
            e.ack()


def mark_inbound(monitor: Monitor | None, tps: set[Any]) -> None:
    """Tell faust's liveness check these partitions' streams are processing now."""
    if monitor is None:
        return
    now = time.monotonic()
    inbound = monitor.stream_inbound_time
    for tp in tps:
        inbound[tp] = now


class BoundedWorker(faust.Worker):
    """faust's worker with a bound on the stop that a signal starts.

    A thread, not the event loop, holds the deadline: the stop may be stuck in a
    broker call that retries for ever, and the loop is what is stuck."""

    shutdown_timeout_s: float = 10.0
    exit_code: int = 1
    _deadline: threading.Timer | None = None

    def _on_sigint(self) -> None:
        self._arm_deadline()
        super()._on_sigint()

    def _on_sigterm(self) -> None:
        self._arm_deadline()
        super()._on_sigterm()

    def _arm_deadline(self) -> None:
        if self._deadline is None:
            self._deadline = threading.Timer(self.shutdown_timeout_s, self._timed_out)
            self._deadline.daemon = True
            self._deadline.start()

    def _timed_out(self) -> None:
        log.error(  # the final commit did not finish (broker unreachable?)
            "shutdown_timeout", extra={"detail": "events after the last commit will be replayed"}
        )
        for out in (sys.stdout, sys.stderr):
            out.flush()
        os._exit(self.exit_code)


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        if not hasattr(consumer, "_fetch_max_wait_ms"):  # check() looked at the class only
            raise StreamsConfigError("aiokafka consumer has no _fetch_max_wait_ms any more")
        consumer._fetch_max_wait_ms = getattr(self.app, "fetch_max_wait_ms", 1500)
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def force_commit(self, *args: Any, **kwargs: Any) -> bool:
        # Every offset commit (interval, rebalance, shutdown) passes here.
        for name in ("session_store", "spend_book"):  # together: see streams.spend
            store: _Flushable | None = getattr(self.app, name, None)
            if store is not None:
                store.flush()
        return bool(await super().force_commit(*args, **kwargs))

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - worker path
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        acks_enabled_for = self.app.topics.acks_enabled_for
        suspended = self.suspend_flow.is_set
        app = self.app
        callback = self.callback
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                # Lazy on purpose: getmany stops yielding when the flow stops or the
                # generation changes, leaving the rest to the seek after the rebalance.
                ait = self.getmany(timeout=1.0)
                await asyncio.sleep(0)  # upstream: getmany may loop without yielding
                if not self.should_stop:
                    n = 0
                    rewound: set[Any] = set()
                    held = False
                    async for tp, message in ait:
                        n += 1
                        if n % 100 == 0:
                            await asyncio.sleep(0)
                        if tp in rewound:
                            continue  # stale records of a partition being re-read
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is not None and offset < r_offset:
                            continue  # already read (upstream drops it too)
                        event_topic = acks_enabled_for(message.topic)
                        if event_topic and app.rebalancing:
                            await self._hold(tp, offset)
                            rewound.add(tp)
                            held = True
                            continue
                        if r_offset is not None and offset - r_offset > 1 and event_topic:
                            if await self._rewind(tp, r_offset, message.topic):
                                rewound.add(tp)
                                continue
                            await self._add_gap(tp, r_offset + 1, offset)
                        if self._commit_every is not None and self._n_acked >= self._commit_every:
                            self._n_acked = 0
                            await self.commit()
                        if not suspended():
                            try:
                                await callback(message)
                            except asyncio.CancelledError:
                                # a rebalance cleared the queue this put waited on
                                if self.should_stop or not suspended():
                                    raise
                        set_read_offset(tp, offset)
                    if held:  # wait for the rebalance to end without spinning on fetches
                        await asyncio.sleep(_HOLD_PAUSE_S)
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _hold(self, tp: Any, offset: int) -> None:
        """Do not deliver `offset` during a rebalance: faust empties the agent queues when
        it resumes the flow at the end of recovery, after its seek to the committed
        offsets. Seek back so the record is fetched again; if faust's own seek lands
        later, the gap check re-reads from the committed offset anyway."""
        await self._seek(tp, offset)
        self._read_offset[tp] = offset - 1

    async def perform_seek(self) -> None:
        """Seek every assigned partition to its committed offset, like upstream, but keep
        the read offset as the last offset read (committed - 1), the fetch loop's
        meaning of it, so the first record after the seek is checked for a gap too."""
        committed = await self.seek_to_committed()
        self._read_offset.update(
            {
                tp: offset - 1 if offset is not None and offset >= 0 else None
                for tp, offset in committed.items()
            }
        )
        self._committed_offset.update(
            {
                ensure_TP(tp): offset or None
                for tp, offset in committed.items()
                if offset is not None
            }
        )

    async def _rewind(self, tp: Any, r_offset: int, topic: str) -> bool:
        """A jump in offsets on a topic that has none (not compacted, no transactions)
        means records were skipped, as after a rebalance when records fetched before
        the seek still arrive: re-read from the first missing one instead of counting
        the jump as acked like upstream does. A gap still there after a few rewinds
        is accepted as real."""
        if topic in getattr(self.app, "gapped_topics", ()):
            return False
        target = r_offset + 1
        key = (tp, target)
        tries = self._rewinds.get(key, 0)
        if tries >= _MAX_REWINDS:
            return False
        self._rewinds[key] = tries + 1
        self.log.warning("offset_gap_rewind tp=%s to=%d try=%d", tp, target, tries + 1)
        await self._seek(tp, target)
        self._read_offset[tp] = r_offset  # "last read", so `target` is next in line
        return True

    @property
    def _rewinds(self) -> dict[Any, int]:
        rewinds: dict[Any, int] | None = self.__dict__.get("_rewinds_by_tp")
        if rewinds is None:
            rewinds = self.__dict__["_rewinds_by_tp"] = {}
        return rewinds


def _is_raw(channel: Any) -> bool:
    """Whether faust's decode of `channel` hands the record's bytes over unchanged."""
    schema = getattr(channel, "schema", None)
    if type(schema) is not faust.Schema:
        return False
    types = (schema.key_type, schema.value_type, schema.key_serializer, schema.value_serializer)
    return types == (bytes, bytes, "raw", "raw")


def _raw_handler(conductor: Conductor, tp: TP, channel: Any) -> Callable[[Message], Any]:
    """Upstream's compiled handler (`ConductorCompiler.build`) for one raw-bytes channel,
    without the codec: the event gets the record's key and value as they are."""
    app = conductor.app
    consumer = app.consumer
    acquire_flow_control = app.flow_control.acquire
    buffer = app.producer.buffer
    pending = buffer.pending  # ProducerBuffer.size, unthreaded, minus two settings lookups
    make_event = cast(Callable[..., Any], app.conf.Event)  # upstream: per message (create_event)
    on_topic_buffer_full = app.sensors.on_topic_buffer_full

    def on_pressure_high() -> None:
        on_topic_buffer_full(tp)
        consumer.on_buffer_full(tp)

    def on_pressure_drop() -> None:
        consumer.on_buffer_drop(tp)

    async def on_message(message: Message) -> None:
        await acquire_flow_control()
        if pending.qsize() > buffer.max_messages:
            await buffer.wait_until_ebb()
        message.incref(1)
        event = make_event(app, message.key, message.value, message.headers, message)
        queue = channel.queue
        if queue.full():
            on_topic_buffer_full(tp)
            await channel.put(event)
        else:
            queue.put_nowait_enhanced(
                event, on_pressure_high=on_pressure_high, on_pressure_drop=on_pressure_drop
            )

    return on_message


class _Conductor(Conductor):
    def _build_handler(self, tp: TP, channels: Any) -> Any:
        if len(channels) == 1 and not self.app.conf.producer_threaded:
            (channel,) = channels
            if _is_raw(channel):
                return _raw_handler(self, tp, channel)
        return super()._build_handler(tp, channels)


class TunedTransport(faust_aiokafka.Transport):
    """The aiokafka transport with the consumer and the conductor above."""

    Consumer = _Consumer
    Conductor = _Conductor
