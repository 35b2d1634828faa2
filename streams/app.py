"""The faust app: one agent over the proxy's event topics (plus the command topic),
a changelog-backed session table, and raw-bytes output topics.

Delivery: at-least-once, without faust's exactly_once (the Tansu broker has no
transactions). Per batch the agent publishes every output and waits for the
broker's acks, *then* hands the session states to the write-behind store, which
writes them to the table before every offset commit; faust flushes those
changelog writes before it commits the source offsets. A crash therefore replays events
whose outputs may already be out: their ids are deterministic (see
`streams.decisions`), and the per-topic offsets kept in each session's state make
the replay skip the counting, so state and kill decisions are never doubled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import faust

from schemas.resets import ResetWatch
from schemas.signing import load_ring
from schemas.topics import Topics
from streams.changelog import changelog_topic
from streams.decisions import Engine
from streams.errors import BrokerResetError, PublishError, StreamsConfigError
from streams.escalation import KeyEscalation, follow_commands
from streams.faust_compat import TunedApp, run_batches
from streams.processor import EventRecord, Processor
from streams.settings import StreamsSettings
from streams.spend import SpendBook
from streams.state_cache import SessionStateCache
from streams.tracing import JudgementTracing

if TYPE_CHECKING:
    from streams.policy.holder import PolicyHolder

__all__ = [
    "SESSIONS_TABLE",
    "SPEND_TABLE",
    "StreamsApp",
    "create_app",
    "load_policy_holder",
    "spend_changelog",
]

log = logging.getLogger(__name__)

#: Name of the session table; its changelog topic is `<app_id>-sessions-changelog`.
SESSIONS_TABLE = "sessions"
#: Name of the spend table (`streams.spend`); changelog `<app_id>-spend-changelog`.
SPEND_TABLE = "spend"


class StreamsApp(TunedApp):
    """The worker's faust app: the tuned transport plus policy, session cache and tracing."""

    policy: PolicyHolder | None = None
    session_store: SessionStateCache | None = None
    spend_book: SpendBook | None = None
    judgement_tracing: JudgementTracing | None = None


def spend_changelog(settings: StreamsSettings) -> str:
    """The spend table's changelog topic: what `modeltrail spend --live` reads."""
    return changelog_topic(settings.app_id, SPEND_TABLE)


def load_policy_holder(settings: StreamsSettings) -> PolicyHolder:
    """Load the configured policy into a holder (hot reload: `holder.reload()`).

    Raises:
        StreamsConfigError: the preset or a policy file does not load or validate.
    """
    from streams.policy.holder import PolicyHolder

    try:
        return PolicyHolder(settings.policy_preset, tuple(settings.policy_files))
    except Exception as exc:  # any policy error is fatal at start-up, with its message
        raise StreamsConfigError(f"cannot load policy: {exc}") from exc


def _credentials(settings: StreamsSettings) -> faust.types.auth.CredentialsT | None:
    """faust's view of the one Kafka client configuration (`KafkaSettings`)."""
    kafka = settings.kafka
    ctx = kafka.ssl_context()
    if not kafka.sasl_mechanism:
        return None if ctx is None else faust.SSLCredentials(ctx)
    return faust.SASLCredentials(
        username=kafka.sasl_username,
        password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
        mechanism=kafka.sasl_mechanism,
        ssl_context=ctx,
    )


def source_topics(topics: Topics) -> list[str]:
    """The topics the worker's group consumes."""
    return [topics.requests, topics.responses, topics.stream_windows, topics.commands]


def create_app(
    settings: StreamsSettings, engine: Engine | Callable[[], Engine] | None = None
) -> StreamsApp:
    """Build the faust app; `engine` (an engine or a getter) defaults to the configured policy,
    held in `app.policy` (a `PolicyHolder`) so a reload swaps rules between two batches."""
    holder: PolicyHolder | None = None
    get_engine: Callable[[], Engine]
    if engine is None:
        holder = load_policy_holder(settings)
        get_engine = lambda: holder.engine  # noqa: E731
    elif callable(engine) and not hasattr(engine, "evaluate"):
        get_engine = engine
    else:
        fixed: Engine = engine  # type: ignore[assignment]
        get_engine = lambda: fixed  # noqa: E731

    kafka = settings.kafka
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # faust creates only the last level
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
        broker_session_timeout=settings.session_timeout_s,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
    )
    app.fetch_max_wait_ms = settings.fetch_max_wait_ms
    app.gapped_topics = frozenset({kafka.topics.commands})  # compacted: offsets may jump
    app.policy = holder
    topics = kafka.topics
    raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes}
    raw |= {"key_serializer": "raw", "value_serializer": "raw"}
    source = app.topic(*source_topics(topics), **raw)
    sinks = {name: app.topic(name, **raw) for name in (topics.violations, topics.commands)}
    sinks[topics.deadletter] = app.topic(topics.deadletter, **raw)
    # use_partitioner: a batch mixes partitions, so the changelog partition must come
    # from the key (the session id, as the proxy keys its events), not the current event.
    sessions = app.Table(
        SESSIONS_TABLE,
        default=None,
        partitions=kafka.partitions,
        use_partitioner=True,
        key_type=bytes,  # bytes types mean the raw codec both ways
        value_type=bytes,
    )
    store = app.session_store = SessionStateCache(sessions, ttl_s=settings.session_ttl_s)
    # Rows are written with an explicit changelog partition (the source partition
    # of the response: see streams.spend), never through faust's partitioner.
    spend_table = app.Table(
        SPEND_TABLE, default=None, partitions=kafka.partitions, key_type=bytes, value_type=bytes
    )
    spend = app.spend_book = SpendBook(
        spend_table, days=settings.spend_days, max_ids=settings.spend_max_ids
    )

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust's stub is narrower
    def on_revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
        # the offsets were committed (and the store flushed); another worker may own
        # these sessions now, and the table is recovered again on assignment
        store.reset()
        spend.reset()

    tracing = app.judgement_tracing = JudgementTracing(settings.tracing, settings.instance_id)
    signer = load_ring(settings.signing)
    processor = Processor(
        get_engine,
        topics,
        source=settings.instance_id,
        consumer=settings.app_id,
        collect_traces=tracing.enabled,
        signer=signer,
        quiet_parts=settings.judged_quiet_parts,
    )

    if settings.key_kill_after_sessions > 0:
        escalation = KeyEscalation(
            settings.key_kill_after_sessions,
            settings.key_kill_window_s,
            source=settings.instance_id,
        )

        async def publish_command(key: bytes, value: bytes) -> None:
            await (await sinks[topics.commands].send(key=key, value=value, force=True))

        @app.task
        async def escalate() -> None:
            # Only verified kills count towards a key kill, and the key kill is signed.
            await follow_commands(
                kafka,
                escalation,
                publish_command,
                lambda: datetime.now(UTC),
                trusted=lambda cmd: signer.verify(cmd) == "ok",
                sign=signer.sign,
            )

    @app.timer(interval=settings.sweep_interval_s)
    async def expire_spend() -> None:
        gone = spend.sweep(datetime.now(UTC))
        if gone:
            log.info("spend_rows_expired", extra={"rows": gone})

    @app.timer(interval=settings.sweep_interval_s)
    async def expire_sessions() -> None:
        ended = store.sweep(time.time())
        pending = [
            await sinks[topics.commands].send(key=sid.encode(), value=None, force=True)
            for sid in ended
        ]
        if pending:
            await asyncio.gather(*pending)
            log.info("kills_tombstoned", extra={"sessions": len(pending)})

    # A broker that restarts empty replaces every log under the worker: its positions,
    # faust's committed and changelog offsets and the tables all describe the old logs
    # (faust may carry on with them or stop in its recovery). Rather than repairing
    # faust's internals in place, the worker exits (non-zero) and its supervisor
    # (`modeltrail up`, Kubernetes) starts it on the new log with fresh state.
    resets = ResetWatch(kafka)

    if settings.reset_check_s > 0:

        @app.timer(interval=settings.reset_check_s)
        async def watch_for_broker_reset() -> None:
            replaced = await resets.check_anchors()
            if replaced:
                partitions = [f"{tp.topic}/{tp.partition}" for tp in replaced]
                log.error("broker_reset_detected", extra={"partitions": partitions})
                await app.crash(BrokerResetError(f"logs replaced: {', '.join(partitions)}"))

    async def judge_batch(records: list[EventRecord]) -> None:
        started_ns = time.time_ns()
        for record in records:
            resets.seen(record)
        result = processor.process(records, store.load)
        tracing.record(started_ns, time.time_ns(), result, get_engine().version)
        pending = [
            await sinks[o.topic].send(key=o.key, value=o.value, force=True) for o in result.outputs
        ]
        if pending:
            try:
                await asyncio.gather(*pending)
            except Exception as exc:
                raise PublishError(f"outputs not acknowledged: {exc}") from exc
        store.put(result.states)  # only now: outputs first, then state (acks follow)
        spend.add(result.spent)
        if result.commands or result.dead_letters or result.replayed:
            log.info(
                "batch_judged",
                extra={
                    "events": result.events,
                    "violations": result.violations,
                    "commands": result.commands,
                    "dead_letters": result.dead_letters,
                    "replayed": result.replayed,
                },
            )

    @app.agent(source, name="judge")
    async def judge(stream: faust.StreamT[bytes]) -> None:
        # Events are acked only after their outputs are acked (run_batches acks a
        # batch once judge_batch returned).
        try:
            await run_batches(
                stream,
                batch_size=settings.batch_size,
                linger_s=settings.batch_linger_ms / 1000,
                handle=judge_batch,
            )
        except Exception as exc:
            # Top of the agent: stop the worker without adopting this batch's states
            # or acking its events; the restart replays them from the committed offsets.
            log.exception("judge_failed")
            await app.crash(exc)

    return app
