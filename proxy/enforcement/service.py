"""`EnforcementService`: the real `Enforcement` behind the forwarding path.

It owns the kill registry (the in-memory truth `check` reads), the follower of
the compacted `session.commands` topic (replayed at start, then live), a
follower of `audit.violations` (marks sessions flagged; at start it replays the
last `violations_lookback_s` of them, so a restarted replica with the memory
store still knows which sessions were flagged: each counts once, the stores
dedupe by event id) and
the session store. Bookkeeping goes through an in-process queue drained by one
writer task, so `observe_*` never blocks or raises on the request path; when
the queue is full an observation is dropped and counted, while commands and
violations are never dropped.

Guarantees: every command present on `session.commands` when `start()` is
called is applied before `start()` returns (or `start()` raises; with
`enforcement_replay_required=False` it logs `enforcement_degraded`, serves
with the kills mirrored in the store, and keeps retrying); later ones are applied within the
follower's fetch wait (milliseconds). With the Redis store a command applied
here through `apply_local` reaches the other replicas over pub/sub at once.

Broker resets: the followers notice a replaced log and re-read it from the
beginning (`schemas.resets`). Operator commands (`apply_local`) are
kept where a broker restart cannot erase them: the local `command_journal`
when set (the embedded stack) and the Redis kills mirror with the Redis store;
both are loaded at start and published again to `session.commands` when the
command follower sees a reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from aiokafka import ConsumerRecord

from proxy.enforcement import views
from proxy.enforcement.commands import TopicFollower
from proxy.enforcement.errors import EnforcementError, SessionStoreError
from proxy.enforcement.journal import CommandJournal
from proxy.enforcement.kills import KillRegistry
from proxy.enforcement.memory_store import MemorySessionStore
from proxy.enforcement.redis_store import RedisSessionStore
from proxy.enforcement.session_store import SessionInfo, SessionStore
from proxy.metrics import ProxyMetrics
from proxy.publisher import Publisher
from proxy.settings import ProxySettings
from proxy.tasks import cancel_and_wait
from schemas.codec import decode_as
from schemas.deadletter import dead_letter
from schemas.errors import DecodeError
from schemas.events import LLMRequest, LLMResponse, SessionCommand, Violation, utcnow
from schemas.signing import CommandSigner, load_ring

__all__ = ["EnforcementService", "build_store"]

log = logging.getLogger(__name__)

_Item = LLMRequest | LLMResponse | Violation | SessionCommand
_BATCH = 512


def build_store(settings: ProxySettings) -> SessionStore:
    """The session store the settings ask for."""
    if settings.session_store == "redis":
        return RedisSessionStore(
            settings.redis.url.get_secret_value(),
            key_prefix=settings.redis.key_prefix,
            ttl_s=settings.session_ttl_s,
        )
    return MemorySessionStore(
        max_sessions=settings.memory_max_sessions, ttl_s=settings.session_ttl_s
    )


class EnforcementService:
    """Kill registry + command/violation followers + session store."""

    def __init__(
        self,
        settings: ProxySettings,
        *,
        publisher: Publisher | None = None,
        store: SessionStore | None = None,
        metrics: ProxyMetrics | None = None,
        signer: CommandSigner | None = None,
    ) -> None:
        self.settings = settings
        self.signer = signer if signer is not None else load_ring(settings.signing)
        self.registry = KillRegistry()
        self.store = store if store is not None else build_store(settings)
        self.metrics = metrics
        self._publisher = publisher
        topics = settings.kafka.topics
        self._commands = TopicFollower(
            settings.kafka,
            topics.commands,
            self._on_command_record,
            from_beginning=True,
            fetch_max_wait_ms=settings.command_fetch_wait_ms,
            replay_timeout_s=settings.enforcement_replay_timeout_s,
            on_reset=self._republish,
        )
        self._journal = (
            CommandJournal(settings.command_journal) if settings.command_journal else None
        )
        self.republished = 0
        self._violations = TopicFollower(
            settings.kafka,
            topics.violations,
            self._on_violation_record,
            from_beginning=False,
            fetch_max_wait_ms=50,
            replay_timeout_s=settings.enforcement_replay_timeout_s,
            lookback_s=settings.violations_lookback_s,
        )
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._retry: asyncio.Task[None] | None = None
        self._started = False
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "commands",
                "commands_applied",
                "commands_rejected",
                "violations",
                "observed",
                "dropped",
                "store_errors",
            ),
            0,
        )

    async def __aenter__(self) -> EnforcementService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Load mirrored kills, replay session.commands to its end, then follow live."""
        if self._started:
            return
        self._started = True
        self._writer = asyncio.create_task(self._drain(), name="enforcement-writer")
        try:
            await self.store.start(on_command=self._on_mirrored)
            for cmd in await self.store.commands():
                if self._authentic(cmd, "store"):
                    self._apply(cmd, "store")
            if self._journal is not None:
                for cmd in await asyncio.to_thread(self._journal.load):
                    if self._authentic(cmd, "journal"):
                        self._apply(cmd, "journal")
            await self._follow()
        except EnforcementError as exc:
            if self.settings.enforcement_replay_required or isinstance(exc, SessionStoreError):
                await self.stop()
                raise
            # Serve with the kills known so far (Redis mirror) and keep trying.
            log.error("enforcement_degraded", extra={"error": str(exc)})
            self._retry = asyncio.create_task(self._follow_later(), name="enforcement-retry")
        except BaseException:
            await self.stop()
            raise
        log.info(
            "enforcement_started",
            extra={
                "replayed": self._commands.replayed,
                "violations_replayed": self._violations.replayed,
                "kills": len(self.registry.active(utcnow())),
            },
        )

    async def _follow(self) -> None:
        await self._commands.start()
        await self._violations.start()

    async def _follow_later(self) -> None:
        while True:
            await asyncio.sleep(2.0)
            try:
                await self._follow()
            except EnforcementError as exc:
                log.warning("enforcement_retry_failed", extra={"error": str(exc)})
                continue
            log.info("enforcement_recovered", extra={"replayed": self._commands.replayed})
            return

    async def stop(self) -> None:
        """Stop followers, flush pending bookkeeping, disconnect; idempotent."""
        retry, self._retry = self._retry, None
        await cancel_and_wait(retry)
        await self._commands.stop()
        await self._violations.stop()
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), timeout=5)
            await cancel_and_wait(writer)
        await self.store.stop()
        self._started = False

    # --- the forwarding path (sync, never blocks) ---

    def check(self, session_id: str, now: datetime | None = None) -> SessionCommand | None:
        """The kill blocking this session right now, or None. O(1), never awaits."""
        cmd = self.registry.held(session_id)  # the common case, no kill: no clock read
        if cmd is None or not cmd.active_at(now or utcnow()):
            return None
        return cmd

    def observe_request(self, event: LLMRequest) -> None:
        """Queue a request for the session store; dropped (and counted) when full."""
        self._observe(event)

    def observe_response(self, event: LLMResponse) -> None:
        """Queue a response for the session store; dropped (and counted) when full."""
        self._observe(event)

    def _observe(self, event: LLMRequest | LLMResponse) -> None:
        if self._writer is None or self._queue.qsize() >= self.settings.observe_queue_size:
            self.counters["dropped"] += 1
            if self.metrics is not None:
                self.metrics.session_updates_dropped.inc()
            return
        self.counters["observed"] += 1
        self._queue.put_nowait(event)

    # --- commands ---

    async def apply_local(self, cmd: SessionCommand) -> bool:
        """Apply a command at once here and mirror it to the store (other replicas).

        The caller signs it (`self.signer.sign`); the other replicas verify.

        Raises:
            SessionStoreError: the store could not mirror it (it is applied locally anyway).
        """
        changed = self._apply(cmd, "local")
        if self._journal is not None:
            await asyncio.to_thread(self._journal.record, cmd)
        await self.store.save_command(cmd)
        return changed

    @property
    def resets(self) -> int:
        """Broker resets the followers noticed (each re-read its topic from the start)."""
        return self._commands.resets + self._violations.resets

    async def _republish(self) -> None:
        """After a reset: publish the kept operator commands (and Redis kills) again."""
        kept: dict[str, SessionCommand] = {}
        if self._journal is not None:
            kept.update((c.event_id, c) for c in self._journal.commands())
        if self.settings.session_store == "redis":
            kept.update((c.event_id, c) for c in await self.store.commands())
        if self._publisher is None or not kept:
            return
        for cmd in sorted(kept.values(), key=lambda c: (c.time, c.event_id)):
            self._publisher.publish(cmd)
        self.republished += len(kept)
        log.warning("commands_republished", extra={"commands": len(kept)})

    def _apply(self, cmd: SessionCommand, source: str) -> bool:
        self.registry.prune(utcnow())  # expired kills leave the registry (heap top: cheap)
        changed = self.registry.apply(cmd)
        if changed:
            self.counters["commands_applied"] += 1
            if self.metrics is not None:
                self.metrics.kill_commands.labels(cmd.command, source).inc()
            log.info(
                "session_killed" if cmd.command == "kill" else "session_resumed",
                extra={
                    "session_id": cmd.session_id,
                    "rule_id": cmd.rule_id,
                    "block_mode": cmd.block_mode,
                    "source": source,
                },
            )
        return changed

    def _authentic(self, cmd: SessionCommand, source: str) -> bool:
        """Whether a command read from Kafka or the store carries our signature."""
        verdict = self.signer.verify(cmd)
        if verdict == "ok":
            return True
        self.counters["commands_rejected"] += 1
        if self.metrics is not None:
            self.metrics.commands_rejected.labels(verdict, source).inc()
        log.warning(
            "command_rejected",
            extra={
                "reason": verdict,
                "source": source,
                "session_id": cmd.session_id[:128],
                "command": cmd.command,
                "issuer": cmd.issuer[:128],
            },
        )
        return False

    def _on_mirrored(self, cmd: SessionCommand) -> None:
        if self._authentic(cmd, "redis"):
            self._apply(cmd, "redis")

    async def _on_command_record(self, record: ConsumerRecord[bytes, bytes]) -> None:
        self.counters["commands"] += 1
        if record.value is None:
            await self._on_tombstone(record)
            return
        try:
            cmd = decode_as(SessionCommand, record.value or b"")
        except DecodeError as exc:
            self._dead_letter(record, str(exc))
            return
        if not self._authentic(cmd, "kafka"):
            return
        if self._apply(cmd, "kafka"):
            self._queue.put_nowait(cmd)  # mirror for replicas that start later

    async def _on_tombstone(self, record: ConsumerRecord[bytes, bytes]) -> None:
        """A compaction tombstone: forget the session, unless a kill is still in force."""
        sid = (record.key or b"").decode("utf-8", "replace")
        held = self.registry.forget(sid, utcnow())
        if held is None or self._publisher is None:
            return
        # Someone deleted a kill in force from the compacted topic (a race with an
        # expiry tombstone, or a forgery): put the signed kill back for later replicas.
        log.warning("tombstone_on_active_kill", extra={"session_id": sid[:128]})
        self._publisher.publish(held)

    async def _on_violation_record(self, record: ConsumerRecord[bytes, bytes]) -> None:
        if record.value is None:
            return
        try:
            violation = decode_as(Violation, record.value or b"")
        except DecodeError as exc:
            self._dead_letter(record, str(exc))
            return
        self.counters["violations"] += 1
        self._queue.put_nowait(violation)

    def _dead_letter(self, record: ConsumerRecord[bytes, bytes], reason: str) -> None:
        log.warning(
            "record_undecodable",
            extra={"topic": record.topic, "partition": record.partition, "offset": record.offset},
        )
        if self._publisher is None:
            return
        letter = dead_letter(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            reason=reason,
            source=self.settings.instance_id,
            consumer=f"{self.settings.instance_id}/enforcement",
        )
        self._publisher.publish(letter)

    # --- the store writer ---

    async def flush(self) -> None:
        """Wait until every queued update reached the store."""
        await self._queue.join()

    async def _drain(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < _BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            except SessionStoreError as exc:
                self.counters["store_errors"] += 1
                log.warning("session_store_failed", extra={"error": str(exc), "lost": len(batch)})
            except Exception:
                self.counters["store_errors"] += 1
                log.exception("session_store_failed")
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[_Item]) -> None:
        observations = [e for e in batch if isinstance(e, LLMRequest | LLMResponse)]
        if observations:
            await self.store.record(observations)
        for item in batch:
            if isinstance(item, Violation):
                await self.store.flag(item)
            elif isinstance(item, SessionCommand):
                await self.store.save_command(item)

    # --- queries for the control API ---

    async def session(self, session_id: str) -> SessionInfo | None:
        """One session with its live kill state, or None when never seen nor commanded."""
        return await views.session(self.store, self.registry, session_id, utcnow())

    async def sessions(
        self,
        *,
        active: bool | None = None,
        killed: bool | None = None,
        flagged: bool | None = None,
        backend: str | None = None,
        limit: int = 100,
    ) -> list[SessionInfo]:
        """Sessions, most recently seen first, filtered."""
        return await views.sessions(
            self.store,
            self.registry,
            views.Filters(active, killed, flagged, backend, limit),
            now=utcnow(),
            idle_s=self.settings.session_idle_s,
        )

    async def stats(self) -> Mapping[str, object]:
        """Counters for `/control/stats` and the gauges of `/metrics`."""
        now = utcnow()
        self.registry.prune(now)
        killed = len(self.registry.active(now))
        idle_floor = now - timedelta(seconds=self.settings.session_idle_s)
        try:
            sessions: int | None = await self.store.count()
            active: int | None = await self.store.count(since=idle_floor)
        except SessionStoreError:
            sessions = active = None
        if self.metrics is not None:
            self.metrics.killed_sessions.set(killed)
            if active is not None:
                self.metrics.active_sessions.set(active)
        return {
            "store": self.settings.session_store,
            "sessions": sessions,
            "active_sessions": active,
            "killed_sessions": killed,
            "commands_known": len(self.registry),
            "commands_replayed": self._commands.replayed,
            "broker_resets": self.resets,
            "commands_republished": self.republished,
            "following": self._commands.running,
            "queue_depth": self._queue.qsize(),
            **self.counters,
        }
