"""Per-session state kept in a faust table: pure data and arithmetic, no I/O, no clock.

Every method that depends on time takes `now` (epoch seconds, the event's own
time), so replaying the same events rebuilds the same state. The record also
remembers, per source partition, the last offset it applied and the id of the
event there: a replay after a crash (at-least-once delivery) skips events
already counted, so counts stay exact.

A broker reset (the embedded memory broker restarted, a topic recreated) starts
offsets again at 0 while this state survives in the worker: offsets alone would
take every new event for a replay and the session would never be judged again.
An event at or below the remembered offset is therefore a replay only if it is
the remembered event itself or older than it (event ids are UUIDv7: they sort
by creation time); a newer event there comes from a new log and is applied.
Caveat: proxies whose clocks disagree by more than the time between two of a
session's events could make a replayed event look newer (counted twice).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

import orjson

from schemas.events import LLMRequest, LLMResponse, SessionCommand, StreamWindow
from streams.errors import StateError
from streams.policy.turns import JudgedParts
from streams.policy.types import SessionContext

__all__ = [
    "BASELINE_ALPHA",
    "BASELINE_MIN_SAMPLES",
    "MAX_DECISIONS",
    "SessionState",
    "decayed",
]

#: Weight of the newest completed minute in the requests-per-minute baseline.
BASELINE_ALPHA = 0.3
#: Completed active minutes needed before the baseline is shown to rules.
BASELINE_MIN_SAMPLES = 3
#: Decision ids remembered per session (a replay never re-issues any of them).
MAX_DECISIONS = 64
_BUCKET_S = 5
_WINDOW_S = 60


def decayed(score: float, since: float, now: float, half_life_s: float) -> float:
    """`score` measured at `since`, halved every `half_life_s` seconds until `now`."""
    if score <= 0.0 or half_life_s <= 0.0 or now <= since:
        return max(score, 0.0)
    return score * math.pow(0.5, (now - since) / half_life_s)


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


@dataclass(slots=True)
class SessionState:
    """What the worker knows about one session; stored as JSON bytes in the table."""

    session_id: str
    started_at: float | None = None
    last_seen: float = 0.0
    requests_total: int = 0
    responses_total: int = 0
    windows_total: int = 0
    tokens_total: int = 0
    bytes_total: int = 0
    tool_calls_total: int = 0
    violations_total: int = 0
    risk_score: float = 0.0
    risk_at: float = 0.0
    # 5-second buckets of request counts: {bucket start (s): count}, last minute only.
    rpm_buckets: dict[int, int] = field(default_factory=dict)
    minute_start: float | None = None
    minute_count: int = 0
    baseline_rpm: float | None = None
    baseline_samples: int = 0
    # "topic:partition" -> [last offset applied, event id at that offset]
    positions: dict[str, list[int | str]] = field(default_factory=dict)
    decisions: list[str] = field(default_factory=list)
    kill_active: bool = False
    kill_expires: float | None = None
    # Spend of the session (USD from the proxy's price table) and whose it is.
    cost_usd_total: float = 0.0
    key_id: str | None = None
    team: str | None = None
    # The request parts this session had judged (`streams.policy.turns.JudgedParts.dump`):
    # the stored form, decoded once by `judged_parts` and written back by `to_bytes`.
    judged: str = ""
    # `judged`, decoded: kept between events instead of a decode and a dump per request;
    # shared with copies until one of them changes it (most events never do).
    _parts: JudgedParts | None = field(default=None, init=False, repr=False, compare=False)
    _parts_shared: bool = field(default=False, init=False, repr=False, compare=False)

    # ----- replay protection -------------------------------------------------

    def seen(self, topic: str, partition: int, offset: int, event_id: str) -> bool:
        """Whether this record was already applied to this state (a replay)."""
        last = self.positions.get(f"{topic}:{partition}")
        if last is None or offset > int(last[0]):
            return False
        if offset == last[0]:
            return event_id == last[1]
        return event_id <= str(last[1])  # a newer event below the mark: a new log

    def mark(self, topic: str, partition: int, offset: int, event_id: str) -> None:
        """Record this record as the last applied from its partition (after `seen` said no)."""
        self.positions[f"{topic}:{partition}"] = [offset, event_id]

    # ----- counting ----------------------------------------------------------

    def observe(self, event: LLMRequest | LLMResponse | StreamWindow, now: float) -> None:
        """Count one proxy event at time `now` (its own event time)."""
        if self.started_at is None or now < self.started_at:
            self.started_at = now
        self.last_seen = max(self.last_seen, now)
        if event.key_id is not None and self.key_id is None:
            self.key_id, self.team = event.key_id, event.team
        if isinstance(event, LLMRequest):
            self.requests_total += 1
            self.bytes_total += event.body_bytes
            self._count_request(now)
        elif isinstance(event, LLMResponse):
            self.responses_total += 1
            self.bytes_total += event.body_bytes
            tokens = event.total_tokens
            if tokens is None:
                tokens = (event.input_tokens or 0) + (event.output_tokens or 0)
            self.tokens_total += tokens
            self.tool_calls_total += len(event.tool_calls)
            if event.cost_usd:
                self.cost_usd_total += event.cost_usd
        else:
            self.windows_total += 1

    def _count_request(self, now: float) -> None:
        bucket = int(now // _BUCKET_S) * _BUCKET_S
        self.rpm_buckets[bucket] = self.rpm_buckets.get(bucket, 0) + 1
        horizon = now - _WINDOW_S - _BUCKET_S
        if len(self.rpm_buckets) > _WINDOW_S // _BUCKET_S + 1:
            self.rpm_buckets = {b: c for b, c in self.rpm_buckets.items() if b > horizon}
        # Baseline: an EWMA over the session's *active* minutes, so an idle gap does not
        # make the next ordinary burst look anomalous.
        minute = float(int(now // _WINDOW_S) * _WINDOW_S)
        if self.minute_start is None:
            self.minute_start = minute
        elif minute > self.minute_start:
            sample = float(self.minute_count)
            if self.baseline_rpm is None:
                self.baseline_rpm = sample
            else:
                self.baseline_rpm = BASELINE_ALPHA * sample + (1 - BASELINE_ALPHA) * (
                    self.baseline_rpm
                )
            self.baseline_samples += 1
            self.minute_start = minute
            self.minute_count = 0
        if minute >= self.minute_start:
            self.minute_count += 1

    def requests_last_minute(self, now: float) -> int:
        """Requests whose 5-second bucket overlaps the minute before `now`."""
        lower = now - _WINDOW_S
        return sum(c for b, c in self.rpm_buckets.items() if b + _BUCKET_S > lower and b <= now)

    # ----- risk and kills ----------------------------------------------------

    def risk_at_time(self, now: float, half_life_s: float) -> float:
        """The risk score decayed to `now`."""
        return decayed(self.risk_score, self.risk_at, now, half_life_s)

    def add_risk(self, points: float, now: float, half_life_s: float) -> float:
        """Decay the score to `now`, add `points`, return the new score."""
        if now >= self.risk_at:
            self.risk_score = self.risk_at_time(now, half_life_s)
            self.risk_at = now
        self.risk_score += max(points, 0.0)
        return self.risk_score

    def kill_in_force(self, now: float) -> bool:
        """Whether a kill (issued or observed) still blocks the session at `now`."""
        if not self.kill_active:
            return False
        return self.kill_expires is None or now < self.kill_expires

    def remember(self, decision_id: str) -> bool:
        """Record a decision id; False when it was already issued."""
        if decision_id in self.decisions:
            return False
        self.decisions.append(decision_id)
        if len(self.decisions) > MAX_DECISIONS:
            del self.decisions[: len(self.decisions) - MAX_DECISIONS]
        return True

    def apply_command(self, command: SessionCommand) -> None:
        """Follow a kill or resume from any issuer (this worker, an operator, a CLI)."""
        if command.command == "kill":
            self.kill_active = True
            self.kill_expires = (
                None if command.block_mode == "permanent" else _ts(command.expires_at)
            )
        else:
            # A resume forgives: without the reset the next event would re-cross the threshold.
            self.kill_active = False
            self.kill_expires = None
            self.risk_score = 0.0
            self.risk_at = max(self.risk_at, command.time.timestamp())

    def judged_parts(self, version: str) -> JudgedParts:
        """The parts this session had judged by policy `version` (mutable: `remember`
        updates the state; another version's memory gives an empty one)."""
        parts = self._parts
        if parts is None:
            parts = self._parts = JudgedParts.load(self.judged, version)
        elif parts.version != version:
            parts = self._parts = JudgedParts(parts.cap, version)
        elif self._parts_shared:
            parts = self._parts = parts.copy()
        self._parts_shared = False
        return parts

    # ----- views -------------------------------------------------------------

    def context(
        self, now: float, half_life_s: float, new_parts: tuple[int, ...] | None = None
    ) -> SessionContext:
        """The snapshot rules see (`new_parts`: the request's parts still to judge)."""
        ready = self.baseline_samples >= BASELINE_MIN_SAMPLES
        return SessionContext(
            session_id=self.session_id,
            now=datetime.fromtimestamp(now, UTC),
            started_at=(
                None if self.started_at is None else datetime.fromtimestamp(self.started_at, UTC)
            ),
            requests_total=self.requests_total,
            requests_last_minute=self.requests_last_minute(now),
            tokens_total=self.tokens_total,
            bytes_total=self.bytes_total,
            tool_calls_total=self.tool_calls_total,
            violations_total=self.violations_total,
            risk_score=self.risk_at_time(now, half_life_s),
            baseline_rpm=self.baseline_rpm if ready else None,
            baseline_samples=self.baseline_samples,
            new_parts=new_parts,
        )

    # ----- serialisation -----------------------------------------------------

    def copy(self) -> SessionState:
        """An independent copy (containers included); cheaper than a JSON round trip."""
        other = SessionState(*_stored_values(self))  # positional: a fifth of copy.copy's cost
        other.rpm_buckets = dict(self.rpm_buckets)
        other.positions = {k: list(v) for k, v in self.positions.items()}
        other.decisions = list(self.decisions)
        if self._parts is not None:  # copied by the first of the two to change it
            other._parts = self._parts
            other._parts_shared = self._parts_shared = True
        return other

    def to_bytes(self) -> bytes:
        """JSON bytes for the table's changelog."""
        if self._parts is not None:
            self.judged = self._parts.dump()
        data: dict[str, Any] = dict(zip(_STORED, _stored_values(self), strict=True))
        data["rpm_buckets"] = [[b, c] for b, c in self.rpm_buckets.items()]
        # orjson (3.13) hands back a bytes object in an 8 KB allocation whatever its
        # length; the table keeps one per session, so copy it into an exact-size one
        # (~0.4 KB): that was ~9 KB per session of worker memory.
        return bytes(memoryview(orjson.dumps(data)))

    @classmethod
    def from_bytes(cls, value: bytes) -> SessionState:
        """Read a table value back; raises StateError when it is not a state record."""
        try:
            data = orjson.loads(value)
            data["rpm_buckets"] = {int(b): int(c) for b, c in data.get("rpm_buckets", [])}
            known = {k: v for k, v in data.items() if k in _STORED_SET}
            return cls(**known)
        except (orjson.JSONDecodeError, TypeError, ValueError, KeyError, AttributeError) as exc:
            raise StateError(f"unreadable session state: {exc}") from exc


#: The fields a state record stores, in `__init__` order (`_parts` is derived from `judged`).
_STORED = tuple(f.name for f in fields(SessionState) if f.init)
_STORED_SET = frozenset(_STORED)
_stored_values = attrgetter(*_STORED)
