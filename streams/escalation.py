"""Escalation from session kills to a key kill: N sessions of one key killed within a
window -> the key is killed (every session of it, on every replica).

`KeyEscalation` is pure (times are the commands' own, `now` is passed in). The I/O
shell, `follow_commands`, reads the compacted `session.commands` topic from the
beginning with no consumer group, so every streams worker sees every kill whatever
partition it landed on (the topic is keyed by session, a key's sessions spread over
partitions). Several workers reach the same decision: its ids derive from the key
and the kills that triggered it, so replicas apply it once (repeated decisions are
ignored). Kills older than the window when read (a start-up replay) never escalate.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from schemas.codec import decode_as, encode
from schemas.errors import DecodeError
from schemas.events import SessionCommand, scope_key
from schemas.kafka import stop_consumer
from schemas.settings import KafkaSettings
from streams.decisions import stable_event_id

__all__ = ["ESCALATION_RULE_ID", "KeyEscalation", "follow_commands"]

log = logging.getLogger(__name__)

ESCALATION_RULE_ID = "identity.key_escalation"
_MAX_KEYS = 100_000


class KeyEscalation:
    """Counts session kills per key; returns a key kill when `threshold` fall in `window_s`."""

    def __init__(self, threshold: int, window_s: float, *, source: str) -> None:
        self.threshold = threshold
        self.window = timedelta(seconds=window_s)
        self.source = source
        self._kills: dict[str, deque[SessionCommand]] = {}
        self._key_state: dict[str, SessionCommand] = {}

    def observe(self, cmd: SessionCommand, now: datetime) -> SessionCommand | None:
        """Take one command off the topic; return the key kill it triggers, if any."""
        if cmd.scope == "key" and cmd.subject:
            held = self._key_state.get(cmd.subject)
            if held is None or (cmd.time, cmd.event_id) > (held.time, held.event_id):
                self._key_state[cmd.subject] = cmd
            if cmd.command == "resume":  # kills before a resume no longer count
                self._kills.pop(cmd.subject, None)
            return None
        if self.threshold <= 0 or cmd.scope != "session" or cmd.command != "kill":
            return None
        key_id = cmd.key_id
        if not key_id or now - cmd.time > self.window:
            return None
        held = self._key_state.get(key_id)
        if held is not None and held.command == "kill":
            return None
        if held is not None and cmd.time <= held.time:  # killed before the last resume
            return None
        kills = self._kills.get(key_id)
        if kills is None:
            if len(self._kills) >= _MAX_KEYS:
                self._kills.clear()
            kills = self._kills[key_id] = deque()
        if any(k.session_id == cmd.session_id for k in kills):
            return None  # one session counts once
        kills.append(cmd)
        while kills and cmd.time - kills[0].time > self.window:
            kills.popleft()
        if len(kills) < self.threshold:
            return None
        trigger = list(kills)
        self._kills.pop(key_id, None)
        return self._key_kill(key_id, trigger)

    def _key_kill(self, key_id: str, trigger: list[SessionCommand]) -> SessionCommand:
        last = trigger[-1]
        basis = "|".join([key_id, *sorted(k.decision_id for k in trigger)])
        dec = "dec_" + hashlib.sha256(basis.encode()).hexdigest()[:32]
        cmd = SessionCommand(
            event_id=stable_event_id(int(last.time.timestamp() * 1000), dec),
            time=last.time,
            source=self.source,
            session_id=scope_key("key", key_id),
            scope="key",
            subject=key_id,
            key_id=key_id,
            team=last.team,
            user=last.user,
            command="kill",
            block_mode="permanent",
            reason=(
                f"{len(trigger)} sessions of key {key_id} killed within "
                f"{int(self.window.total_seconds())} s"
            ),
            rule_id=ESCALATION_RULE_ID,
            issuer=self.source,
            decision_id=dec,
        )
        self._key_state[key_id] = cmd
        return cmd


async def follow_commands(
    kafka: KafkaSettings,
    escalation: KeyEscalation,
    publish: Callable[[bytes, bytes], Awaitable[object]],
    clock: Callable[[], datetime],
    *,
    trusted: Callable[[SessionCommand], bool] = lambda cmd: True,
    sign: Callable[[SessionCommand], SessionCommand] = lambda cmd: cmd,
) -> None:
    """Read `session.commands` from the beginning, forever; publish every escalation.

    `trusted` drops commands that fail verification (signed commands: only what a
    real issuer decided may escalate); `sign` signs what this worker publishes.
    """
    topic = kafka.topics.commands
    while True:
        consumer = AIOKafkaConsumer(
            topic,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
            **kafka.client_kwargs(),  # type: ignore[arg-type]
        )
        try:
            await consumer.start()
            async for record in consumer:
                try:
                    cmd = decode_as(SessionCommand, record.value or b"")
                except DecodeError:
                    continue  # the judge agent dead-letters it already
                if not trusted(cmd):
                    continue
                out = escalation.observe(cmd, clock())
                if out is not None:
                    await publish(out.session_id.encode(), encode(sign(out)))
                    log.info(
                        "key_escalated",
                        extra={"key_id": out.subject, "decision_id": out.decision_id},
                    )
        except KafkaError as exc:
            log.warning("escalation_follow_failed", extra={"error": str(exc)})
            await asyncio.sleep(1.0)
        finally:
            await stop_consumer(consumer)
