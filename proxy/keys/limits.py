"""Rate limits and budgets of keys and teams, checked before forwarding, settled after.

`admit` counts the request against the requests-per-minute limits of the key
and its team and refuses it (429, `LimitExceeded` with the reset time) when a
limit, the tokens of this minute or the spend of this day or month is already
used up. `settle` adds a finished response's tokens and cost. Windows are
calendar periods in UTC (minute, day, month): the counter key names the period,
so a new period starts from zero. A request admitted while the budget has room
may overshoot it by its own cost (the cost is known only once it is answered).

A key or team without limits costs no counter call at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from proxy.keys.counters import Counters, Incr
from proxy.keys.errors import LimitExceeded
from proxy.keys.registry import ClientIdentity

__all__ = ["LimitGate", "Limits"]

_MINUTE_TTL = 120
_DAY_TTL = 2 * 86400
_MONTH_TTL = 32 * 86400


class Limits(BaseModel):
    """Limits of one subject (a key's come from its record, a team's from settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    budget_usd_day: float | None = Field(default=None, gt=0)
    budget_usd_month: float | None = Field(default=None, gt=0)

    @property
    def any(self) -> bool:
        return any(
            v is not None for v in (self.rpm, self.tpm, self.budget_usd_day, self.budget_usd_month)
        )


@dataclass(frozen=True, slots=True)
class _Periods:
    minute: str
    day: str
    month: str
    next_minute: datetime
    next_day: datetime
    next_month: datetime


def _periods(now: datetime) -> _Periods:
    now = now.astimezone(UTC)
    minute = now.replace(second=0, microsecond=0)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    return _Periods(
        minute.strftime("%Y%m%d%H%M"),
        day.strftime("%Y%m%d"),
        month.strftime("%Y%m"),
        minute + timedelta(minutes=1),
        day + timedelta(days=1),
        next_month,
    )


def _subjects(identity: ClientIdentity, teams: dict[str, Limits]) -> list[tuple[str, Limits]]:
    """(counter subject, limits) of a key and its team; only those with a limit set."""
    r = identity.record
    key = Limits(
        rpm=r.rpm, tpm=r.tpm, budget_usd_day=r.budget_usd_day, budget_usd_month=r.budget_usd_month
    )
    out = [(f"key:{r.key_id}", key)] if key.any else []
    team = teams.get(identity.team)
    if team is not None and team.any:
        out.append((f"team:{identity.team}", team))
    return out


class LimitGate:
    """Admit or refuse a request by the limits of its key and team."""

    def __init__(
        self,
        counters: Counters,
        team_limits: dict[str, Limits] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.counters = counters
        self.teams = team_limits or {}
        self.clock = clock or (lambda: datetime.now(UTC))
        # per key-record version: most keys have no limits, and then no work per request
        self._subjects: dict[str, list[tuple[str, Limits]]] = {}

    def subjects(self, identity: ClientIdentity) -> list[tuple[str, Limits]]:
        version = identity.record.event_id
        found = self._subjects.get(version)
        if found is None:
            found = _subjects(identity, self.teams)
            if len(self._subjects) >= 10_000:
                self._subjects.clear()
            self._subjects[version] = found
        return found

    async def admit(self, identity: ClientIdentity) -> None:
        """Count one request; raise LimitExceeded when it is over a limit."""
        subjects = self.subjects(identity)
        if not subjects:
            return
        now = self.clock()
        p = _periods(now)
        hits: list[Incr] = []
        reads: list[str] = []
        checks: list[tuple[str, float, datetime, str]] = []  # limit name, cap, reset, subject
        for subject, lim in subjects:
            if lim.rpm is not None:
                hits.append((f"rpm:{subject}:{p.minute}", 1, _MINUTE_TTL))
        for subject, lim in subjects:
            if lim.rpm is not None:
                checks.append(("rpm", lim.rpm, p.next_minute, subject))
        for subject, lim in subjects:
            for name, cap, key, reset in (
                ("tpm", lim.tpm, f"tok:{subject}:{p.minute}", p.next_minute),
                ("budget_usd_day", lim.budget_usd_day, f"usd:{subject}:{p.day}", p.next_day),
                (
                    "budget_usd_month",
                    lim.budget_usd_month,
                    f"usd:{subject}:{p.month}",
                    p.next_month,
                ),
            ):
                if cap is not None:
                    reads.append(key)
                    checks.append((name, cap, reset, subject))
        values = await self.counters.hit_and_read(hits, reads)
        for (name, cap, reset, subject), value in zip(checks, values, strict=True):
            over = value > cap if name == "rpm" else value >= cap
            if over:
                raise LimitExceeded(
                    f"{subject} is over its {name} limit ({cap:g}); resets at {reset.isoformat()}",
                    limit=name,
                    reset_at=reset,
                    now=now,
                )

    async def settle(
        self, identity: ClientIdentity, tokens: int | None, cost: float | None
    ) -> None:
        """Add a finished response's tokens and cost to its key's and team's counters."""
        subjects = self.subjects(identity)
        if not subjects or (not tokens and not cost):
            return
        p = _periods(self.clock())
        items: list[Incr] = []
        for subject, lim in subjects:
            if tokens and lim.tpm is not None:
                items.append((f"tok:{subject}:{p.minute}", tokens, _MINUTE_TTL))
            if cost:
                if lim.budget_usd_day is not None:
                    items.append((f"usd:{subject}:{p.day}", cost, _DAY_TTL))
                if lim.budget_usd_month is not None:
                    items.append((f"usd:{subject}:{p.month}", cost, _MONTH_TTL))
        await self.counters.add(items)
