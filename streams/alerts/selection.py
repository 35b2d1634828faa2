"""Which events go to which webhook: filters and per-session throttling. Pure (`now` is passed in)."""

from __future__ import annotations

from collections import OrderedDict

from schemas.events import EventEnvelope, SessionCommand, Violation
from streams.alerts.settings import WebhookSpec

__all__ = ["SEVERITY_RANK", "Throttle", "matches"]

SEVERITY_RANK = {"info": 0, "warning": 1, "high": 2, "critical": 3}


def _rule_matches(rule_id: str, patterns: list[str]) -> bool:
    return any(rule_id.startswith(p[:-1]) if p.endswith("*") else rule_id == p for p in patterns)


def matches(spec: WebhookSpec, event: EventEnvelope) -> bool:
    """Whether `spec`'s filters select `event` (an empty filter list selects everything)."""
    team = getattr(event, "team", None)
    if spec.teams and team not in spec.teams:
        return False
    if isinstance(event, SessionCommand):
        return spec.commands
    if not isinstance(event, Violation):
        return False
    if SEVERITY_RANK[event.severity] < SEVERITY_RANK[spec.min_severity]:
        return False
    if spec.owasp and event.owasp not in spec.owasp:
        return False
    return not spec.rules or _rule_matches(event.rule_id, spec.rules)


class Throttle:
    """At most one violation alert per (webhook, session) per window; bounded memory.

    Commands are never throttled: a kill is always worth a page. The least recently
    alerted sessions are forgotten first once `capacity` is reached.
    """

    def __init__(self, window_s: float, capacity: int) -> None:
        self._window = window_s
        self._capacity = capacity
        self._last: OrderedDict[tuple[str, str], float] = OrderedDict()
        self.suppressed = 0

    def admit(self, webhook: str, event: EventEnvelope, now: float) -> bool:
        """True when `event` may be sent to `webhook` at `now` (monotonic seconds)."""
        if isinstance(event, SessionCommand) or self._window <= 0:
            return True
        key = (webhook, event.session_id)
        last = self._last.get(key)
        if last is not None and now - last < self._window:
            self.suppressed += 1
            return False
        self._last[key] = now
        self._last.move_to_end(key)
        while len(self._last) > self._capacity:
            self._last.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._last)
