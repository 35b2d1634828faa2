"""The live violation feed of the dashboard: a consumer of `audit.violations`.

It runs in the control plane, never on the request path: a `TopicFollower` (no
group, every partition) that starts on the first dashboard call, replays the
last `lookback_s` of violations and then follows the topic live; it stops again
once no dashboard call came for `idle_stop_s` and no stream is open. It keeps a
bounded backlog (the newest `backlog` violations), per-minute counts by OWASP
category and severity over the last hour, hit counts per rule and the sessions
flagged lately; every new violation is pushed to each subscriber (the SSE
stream). A subscriber that cannot keep up is cut off rather than buffered
without bound. Delivery: at-least-once from Kafka; a violation seen twice
(same `event_id`) is counted and pushed once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator
from typing import Any

from aiokafka import ConsumerRecord

from proxy.enforcement.commands import TopicFollower
from proxy.enforcement.errors import EnforcementError
from proxy.tasks import cancel_and_wait
from schemas.codec import decode_as
from schemas.errors import DecodeError
from schemas.events import Violation
from schemas.settings import KafkaSettings

__all__ = ["ViolationFeed", "violation_view"]

log = logging.getLogger(__name__)

_MINUTES = 60
_SEEN_IDS = 4096
_FLAGGED_MAX = 10_000
_RETRY_S = 5.0


def violation_view(v: Violation) -> dict[str, Any]:
    """What the dashboard shows of a violation: evidence excerpts are already masked."""
    return {
        "event_id": v.event_id,
        "time": v.time.isoformat(),
        "session_id": v.session_id,
        "request_id": v.request_id,
        "source": v.source,
        "rule_id": v.rule_id,
        "description": v.description,
        "owasp": v.owasp,
        "severity": v.severity,
        "action": v.action,
        "mode": v.mode,
        "enforced": v.enforced,
        "target": v.target,
        "evidence": [e.model_dump() for e in v.evidence],
        "risk_score": v.risk_score,
    }


class ViolationFeed:
    """Backlog, counts and live fan-out of `audit.violations` for the dashboard."""

    def __init__(
        self,
        kafka: KafkaSettings,
        *,
        lookback_s: float = 3600.0,
        backlog: int = 500,
        fetch_wait_ms: int = 500,
        subscriber_queue: int = 256,
        replay_timeout_s: float = 10.0,
        idle_stop_s: float = 600.0,
    ) -> None:
        self._follower = TopicFollower(
            kafka,
            kafka.topics.violations,
            self._on_record,
            from_beginning=False,
            fetch_max_wait_ms=fetch_wait_ms,
            lookback_s=lookback_s,
            replay_timeout_s=replay_timeout_s,
        )
        self._starting: asyncio.Task[bool] | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._idle_stop_s = idle_stop_s
        self._used = time.monotonic()
        self._backlog: deque[dict[str, Any]] = deque(maxlen=backlog)
        self._reset()
        self._subscribers: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._queue_size = subscriber_queue
        self._lock = asyncio.Lock()
        self._failed_at: float | None = None
        self.error: str | None = None

    def _reset(self) -> None:
        """Forget what was counted: a restart replays the look-back from scratch."""
        self._backlog.clear()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._minutes: dict[int, Counter[tuple[str, str]]] = {}
        self.hits: Counter[str] = Counter()
        self._flagged: OrderedDict[str, float] = OrderedDict()
        self.received = 0

    @property
    def running(self) -> bool:
        return self._follower.running

    def kick(self) -> bool:
        """Start following in the background if not yet running; never waits. True if running."""
        self._used = time.monotonic()
        if self._follower.running:
            return True
        if self._starting is None or self._starting.done():
            self._starting = asyncio.create_task(self.ensure_started(), name="violation-feed")
        return False

    async def ensure_started(self) -> bool:
        """Start following on first use (retried at most every few seconds); True if running."""
        if self._follower.running:
            return True
        if self._failed_at is not None and time.monotonic() - self._failed_at < _RETRY_S:
            return False
        async with self._lock:
            if self._follower.running:
                return True
            try:
                await self._follower.stop()
                await self._follower.start()
            except EnforcementError as exc:
                self._failed_at = time.monotonic()
                self.error = str(exc)
                log.warning("violation_feed_unavailable", extra={"error": str(exc)})
                return False
            self._failed_at, self.error = None, None
            if self._reaper is None or self._reaper.done():
                self._reaper = asyncio.create_task(self._stop_when_idle(), name="feed-reaper")
            return True

    async def _stop_when_idle(self) -> None:
        """Nobody looked for `idle_stop_s` and no stream is open: stop consuming (costs nothing)."""
        while True:
            await asyncio.sleep(min(60.0, self._idle_stop_s))
            idle = time.monotonic() - self._used
            if idle >= self._idle_stop_s and not self._subscribers:
                async with self._lock:
                    await self._follower.stop()
                    self._reset()
                log.info("violation_feed_idle_stopped", extra={"idle_s": round(idle)})
                return

    async def stop(self) -> None:
        """Stop following and end every subscription; idempotent."""
        for task in (self._starting, self._reaper):
            await cancel_and_wait(task)
        self._starting = self._reaper = None
        await self._follower.stop()
        for queue in list(self._subscribers):
            _offer(queue, None)
        self._subscribers.clear()

    async def _on_record(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            violation = decode_as(Violation, record.value or b"")
        except DecodeError:
            return  # the enforcement follower dead-letters it; the feed only skips it
        self.add(violation)

    def add(self, v: Violation) -> bool:
        """Count and push one violation; False when it was seen before."""
        if v.event_id in self._seen:
            return False
        self._seen[v.event_id] = None
        if len(self._seen) > _SEEN_IDS:
            self._seen.popitem(last=False)
        self.received += 1
        view = violation_view(v)
        self._backlog.append(view)
        minute = int(v.time.timestamp()) // 60
        self._minutes.setdefault(minute, Counter())[(v.owasp, v.severity)] += 1
        if len(self._minutes) > _MINUTES:
            floor = max(self._minutes) - _MINUTES
            for old in [m for m in self._minutes if m <= floor]:
                del self._minutes[old]
        self.hits[v.rule_id] += 1
        self._flagged[v.session_id] = v.time.timestamp()
        self._flagged.move_to_end(v.session_id)
        if len(self._flagged) > _FLAGGED_MAX:
            self._flagged.popitem(last=False)
        for queue in list(self._subscribers):
            if not _offer(queue, view):
                self._cut_off(queue)
        return True

    def recent(
        self,
        *,
        limit: int = 100,
        session: str | None = None,
        severity: str | None = None,
        owasp: str | None = None,
    ) -> list[dict[str, Any]]:
        """The newest violations first, filtered."""
        out: list[dict[str, Any]] = []
        for view in reversed(self._backlog):
            if session is not None and view["session_id"] != session:
                continue
            if severity is not None and view["severity"] != severity:
                continue
            if owasp is not None and view["owasp"] != owasp:
                continue
            out.append(view)
            if len(out) >= limit:
                break
        return out

    def per_minute(self, minutes: int = 30, now: float | None = None) -> list[dict[str, Any]]:
        """Counts per minute (oldest first) by `owasp` and `severity`, empty minutes included."""
        last = int(time.time() if now is None else now) // 60
        out = []
        for minute in range(last - minutes + 1, last + 1):
            counts = self._minutes.get(minute, Counter())
            by_owasp: Counter[str] = Counter()
            by_severity: Counter[str] = Counter()
            for (owasp, severity), n in counts.items():
                by_owasp[owasp] += n
                by_severity[severity] += n
            out.append(
                {
                    "minute": minute * 60,
                    "total": sum(counts.values()),
                    "owasp": dict(by_owasp),
                    "severity": dict(by_severity),
                }
            )
        return out

    def flagged_since(self, floor: float) -> int:
        """How many sessions had a violation at or after `floor` (epoch seconds)."""
        return sum(1 for t in self._flagged.values() if t >= floor)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[dict[str, Any] | None]]:
        """A queue of new violations (None: the subscription ended)."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    def _cut_off(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        """A subscriber too slow to keep up: end its stream (the browser reconnects)."""
        self._subscribers.discard(queue)
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)


def _offer(queue: asyncio.Queue[dict[str, Any] | None], item: dict[str, Any] | None) -> bool:
    try:
        queue.put_nowait(item)
    except asyncio.QueueFull:
        return False
    return True
