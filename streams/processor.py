"""The worker's pure core: a batch of raw Kafka records in, outputs and new states out.

No I/O and no clock: the faust agent hands in records and a state loader, then
publishes `BatchResult.outputs` and writes `BatchResult.states` back to its table.
Delivery contract with the caller: publish every output and wait for its ack
*before* writing the states; then a crash can only repeat outputs (same ids,
deduplicated downstream), never lose one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from schemas.codec import decode, encode
from schemas.deadletter import dead_letter
from schemas.errors import DecodeError
from schemas.events import (
    EventEnvelope,
    LLMRequest,
    LLMResponse,
    SessionCommand,
    StreamWindow,
)
from schemas.signing import CommandSigner
from schemas.topics import Topics
from streams.decisions import Engine, judge
from streams.errors import StateError
from streams.policy.turns import JudgedParts, QuietParts
from streams.state import SessionState

__all__ = ["BatchResult", "EventRecord", "Judged", "Output", "Processor"]

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One Kafka record as consumed (raw bytes)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int

    @property
    def timestamp(self) -> int:
        """The record's timestamp in ms (as aiokafka names it; `schemas.resets` reads it)."""
        return self.timestamp_ms


@dataclass(frozen=True, slots=True)
class Output:
    """One message to publish: topic, key (the session id) and the encoded event.

    `value` None is a compaction tombstone (session.commands only)."""

    topic: str
    key: bytes
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Judged:
    """What tracing needs to know about one judged event that carries a trace context."""

    trace_id: str
    span_id: str
    session_id: str
    event_type: str
    rule_ids: tuple[str, ...]
    killed: bool


@dataclass(slots=True)
class BatchResult:
    """Everything one batch produced."""

    outputs: list[Output] = field(default_factory=list)
    states: dict[str, SessionState] = field(default_factory=dict)
    events: int = 0
    replayed: int = 0
    violations: int = 0
    commands: int = 0
    dead_letters: int = 0
    commands_rejected: int = 0
    judged: list[Judged] = field(default_factory=list)
    # responses applied for the first time (source partition, event): what they cost
    spent: list[tuple[int, LLMResponse]] = field(default_factory=list)


StateLoader = Callable[[str], SessionState | None]


class Processor:
    """Decode -> update state -> evaluate -> judge, for a batch of records."""

    def __init__(
        self,
        engine: Callable[[], Engine],
        topics: Topics,
        *,
        source: str,
        consumer: str,
        signer: CommandSigner,
        collect_traces: bool = False,
        quiet_parts: int = 16_384,
    ) -> None:
        self._signer = signer
        # Parts judged quiet in any session (`streams.policy.turns.QuietParts`): a cache,
        # so a restarted worker only judges them once more; verdicts are the same either way.
        self._quiet = QuietParts(quiet_parts)
        self._engine = engine
        self._collect_traces = collect_traces
        self._topics = topics
        self._commands = topics.commands  # read per record
        self._source = source
        self._consumer = consumer
        self._proxy_topics = frozenset(topics.event_topics())

    def process(self, records: Sequence[EventRecord], load: StateLoader) -> BatchResult:
        """Handle `records` in order; `load` returns a session's stored state or None."""
        engine = self._engine()  # one rule set per batch: a hot reload lands between batches
        result = BatchResult()
        for rec in records:
            if rec.value is None:
                if rec.topic != self._commands:  # compaction tombstones are normal there
                    self._dead(result, rec, "empty value (tombstone) on an event topic")
                continue
            try:
                event = decode(rec.value)
            except DecodeError as exc:
                self._dead(result, rec, f"undecodable: {exc}")
                continue
            if rec.topic == self._commands:
                if isinstance(event, SessionCommand):
                    self._follow_command(result, rec, event, load)
                else:
                    self._dead(result, rec, f"unexpected {event.type} on the command topic")
                continue
            if rec.topic not in self._proxy_topics or not isinstance(
                event, LLMRequest | LLMResponse | StreamWindow
            ):
                self._dead(result, rec, f"unexpected {event.type} on {rec.topic}")
                continue
            self._judge(result, rec, event, engine, load)
        return result

    def _state(self, result: BatchResult, session_id: str, load: StateLoader) -> SessionState:
        state = result.states.get(session_id)
        if state is None:
            try:
                state = load(session_id)
            except StateError:
                # fail open: a corrupt record must not wedge the partition behind it
                log.error("state_unreadable", extra={"session_id": session_id})
                state = None
            state = state or SessionState(session_id)
        return state

    def _judge(
        self,
        result: BatchResult,
        rec: EventRecord,
        event: LLMRequest | LLMResponse | StreamWindow,
        engine: Engine,
        load: StateLoader,
    ) -> None:
        state = self._state(result, event.session_id, load)
        if state.seen(rec.topic, rec.partition, rec.offset, event.event_id):
            result.replayed += 1
            return
        now = event.time.timestamp()
        state.observe(event, now)
        memory: JudgedParts | None = None
        keys: Sequence[bytes] = ()
        quiet: list[int] = []
        new_parts: tuple[int, ...] | None = None
        if isinstance(event, LLMRequest) and event.messages:
            # Judge each part once per session and policy version, as the proxy does inline.
            memory = state.judged_parts(engine.version)
            fresh, keys = memory.new_parts(event.messages)
            new_parts = self._quiet.skip(fresh, keys, engine.version)
        ctx = state.context(now, engine.session.risk_half_life_s, new_parts)
        try:
            findings = engine.evaluate(event, ctx, quiet)
        except Exception as exc:  # a rule bug must not stop the worker: dead-letter the event
            log.exception("evaluate_failed", extra={"rule_engine": engine.version})
            self._dead(result, rec, f"evaluate failed: {type(exc).__name__}: {exc}")
            findings = []
        if memory is not None:
            memory.remember(keys)  # the state's own memory: dumped when the state is stored
            self._quiet.remember(keys, quiet, engine.version)
        verdict = judge(event, findings, state, engine, now=now, source=self._source)
        key = event.session_id.encode()
        for v in verdict.violations:
            result.outputs.append(Output(self._topics.violations, key, encode(v)))
        result.violations += len(verdict.violations)
        if verdict.command is not None:
            command = self._signer.sign(verdict.command)
            result.outputs.append(Output(self._topics.commands, key, encode(command)))
            result.commands += 1
            log.warning(
                "session_killed",
                extra={
                    "session_id": event.session_id,
                    "rule_id": verdict.command.rule_id,
                    "decision_id": verdict.command.decision_id,
                },
            )
        if self._collect_traces and event.trace_id and event.span_id:
            result.judged.append(
                Judged(
                    event.trace_id,
                    event.span_id,
                    event.session_id,
                    event.type,
                    tuple(v.rule_id for v in verdict.violations),
                    verdict.command is not None,
                )
            )
        state.mark(rec.topic, rec.partition, rec.offset, event.event_id)
        result.states[event.session_id] = state
        result.events += 1
        if isinstance(event, LLMResponse):
            result.spent.append((rec.partition, event))

    def _follow_command(
        self, result: BatchResult, rec: EventRecord, command: SessionCommand, load: StateLoader
    ) -> None:
        verdict = self._signer.verify(command)
        if verdict != "ok":  # a forged resume must not reset the session's state either
            result.commands_rejected += 1
            log.warning(
                "command_rejected",
                extra={"reason": verdict, "session_id": command.session_id[:128]},
            )
            return
        state = self._state(result, command.session_id, load)
        if state.seen(rec.topic, rec.partition, rec.offset, command.event_id):
            result.replayed += 1
            return
        state.apply_command(command)
        if command.command == "kill":
            state.remember(command.decision_id)
        else:
            # Resumed: nothing is left to enforce, so let compaction drop the session's
            # commands; proxies replaying the topic at start-up never see it again.
            result.outputs.append(Output(self._topics.commands, command.session_id.encode(), None))
        state.mark(rec.topic, rec.partition, rec.offset, command.event_id)
        result.states[command.session_id] = state
        result.events += 1

    def _dead(self, result: BatchResult, rec: EventRecord, reason: str) -> None:
        letter = dead_letter(
            topic=rec.topic,
            partition=rec.partition,
            offset=rec.offset,
            key=rec.key,
            value=rec.value,
            reason=reason,
            consumer=self._consumer,
            source=self._source,
            time=_EPOCH + timedelta(milliseconds=rec.timestamp_ms),
            stable=True,
        )
        result.outputs.append(Output(self._topics.deadletter, _key(letter), encode(letter)))
        result.dead_letters += 1
        log.warning(  # not the reason: it may quote the input
            "dead_letter",
            extra={"topic": rec.topic, "partition": rec.partition, "offset": rec.offset},
        )


def _key(event: EventEnvelope) -> bytes:
    return event.session_id.encode()
