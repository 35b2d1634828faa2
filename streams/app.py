"""The faust app: one agent over the proxy's event topics (plus the command topic),
a changelog-backed session table, and raw-bytes output topics.

Delivery: at-least-once, without faust's exactly_once (the Tansu broker has no
transactions). Per batch the agent publishes every output and waits for the
broker's acks, *then* writes the session states; faust flushes those changelog
writes before it commits the source offsets. A crash therefore replays events
whose outputs may already be out: their ids are deterministic (see
`streams.decisions`), and the per-topic offsets kept in each session's state make
the replay skip the counting, so state and kill decisions are never doubled.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.decisions import Engine
from streams.errors import PublishError, StreamsConfigError
from streams.processor import Processor, Record
from streams.settings import StreamsSettings
from streams.state import SessionState

__all__ = ["SESSIONS_TABLE", "StreamsApp", "create_app", "load_engine"]

log = logging.getLogger(__name__)

#: Name of the session table; its changelog topic is `<app_id>-sessions-changelog`.
SESSIONS_TABLE = "sessions"


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """faust hard-codes `fetch_max_wait_ms=1500`; a broker that waits out the whole
    long-poll before answering would add that much to the kill path."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = getattr(self.app, "fetch_max_wait_ms", 1500)
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class StreamsApp(faust.App):
    """faust.App with a tunable consumer fetch wait."""

    fetch_max_wait_ms: int = 10

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


def load_engine(settings: StreamsSettings) -> Callable[[], Engine]:
    """Load the configured policy; returns the getter the agent calls once per batch."""
    from streams.policy import engine as policy_engine

    try:
        holder_cls = getattr(policy_engine, "PolicyHolder", None)
        engine = policy_engine.PolicyEngine.load(
            preset=settings.policy_preset, files=tuple(settings.policy_files)
        )
    except Exception as exc:  # any policy error is fatal at start-up, with its message
        raise StreamsConfigError(f"cannot load policy: {exc}") from exc
    if holder_cls is not None:
        holder = holder_cls(engine)
        for attr in ("get", "current"):
            getter = getattr(holder, attr, None)
            if callable(getter):
                return getter  # type: ignore[no-any-return]
    return lambda: engine


def _credentials(settings: StreamsSettings) -> faust.SASLCredentials | None:
    kafka = settings.kafka
    if not kafka.sasl_mechanism:
        return None
    ctx = ssl.create_default_context() if kafka.security_protocol == "SASL_SSL" else None
    return faust.SASLCredentials(
        username=kafka.sasl_username,
        password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
        mechanism=kafka.sasl_mechanism,
        ssl_context=ctx,
    )


def create_app(
    settings: StreamsSettings, engine: Engine | Callable[[], Engine] | None = None
) -> StreamsApp:
    """Build the faust app; `engine` (an engine or a getter) defaults to the configured policy."""
    if engine is None:
        get_engine = load_engine(settings)
    elif callable(engine) and not hasattr(engine, "evaluate"):
        get_engine = engine
    else:
        fixed: Engine = engine  # type: ignore[assignment]
        get_engine = lambda: fixed  # noqa: E731

    kafka = settings.kafka
    broker = ";".join(f"kafka://{s.strip()}" for s in kafka.bootstrap_servers.split(","))
    app = StreamsApp(
        settings.app_id,
        broker=broker,
        broker_credentials=_credentials(settings),
        broker_client_id=f"{kafka.client_id}-{settings.instance_id}",
        store="memory://",
        autodiscover=False,
        datadir=str(settings.data_dir),
        web_enabled=settings.web_enabled,
        web_port=settings.web_port,
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        producer_acks=-1,
        producer_linger_ms=settings.producer_linger_ms,
        broker_commit_interval=settings.commit_interval_s,
        broker_max_poll_records=settings.max_poll_records,
        stream_recovery_delay=settings.recovery_delay_s,
    )
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    topics = kafka.topics
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes}
    raw |= {"key_serializer": "raw", "value_serializer": "raw"}
    source = app.topic(
        topics.requests, topics.responses, topics.stream_windows, topics.commands, **raw
    )
    sinks = {name: app.topic(name, **raw) for name in (topics.violations, topics.commands)}
    sinks[topics.deadletter] = app.topic(topics.deadletter, **raw)
    # use_partitioner: a batch mixes partitions, so the changelog partition must come
    # from the key (the session id, as the proxy keys its events), not the current event.
    sessions = app.Table(
        SESSIONS_TABLE,
        default=None,
        partitions=kafka.partitions,
        use_partitioner=True,
        **raw,
    )
    processor = Processor(get_engine, topics, source=settings.instance_id, consumer=settings.app_id)

    def load(session_id: str) -> SessionState | None:
        value = sessions.get(session_id.encode())
        return None if value is None else SessionState.from_bytes(value)

    @app.agent(source, name="judge")
    async def judge(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(settings.batch_size, settings.batch_within_s):
            records = [
                Record(
                    topic=e.message.topic,
                    partition=e.message.partition,
                    offset=e.message.offset,
                    key=e.message.key,
                    value=e.message.value,
                    timestamp_ms=int(e.message.timestamp * 1000),
                )
                for e in events
            ]
            result = processor.process(records, load)
            pending = [
                await sinks[o.topic].send(key=o.key, value=o.value, force=True)
                for o in result.outputs
            ]
            if pending:
                try:
                    await asyncio.gather(*pending)
                except Exception as exc:
                    raise PublishError(f"outputs not acknowledged: {exc}") from exc
            for session_id, state in result.states.items():
                sessions[session_id.encode()] = state.to_bytes()
            if result.commands or result.dead_letters:
                log.info(
                    "batch_judged",
                    extra={
                        "events": result.events,
                        "violations": result.violations,
                        "commands": result.commands,
                        "dead_letters": result.dead_letters,
                    },
                )

    return app
