"""Rate limits and budgets over real in-memory counters and a settable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from proxy.keys.counters import MemoryCounters
from proxy.keys.errors import LimitExceeded
from proxy.keys.limits import LimitGate, Limits
from proxy.keys.registry import ClientIdentity
from schemas.identity import KeyRecord


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _ident(**limits: object) -> ClientIdentity:
    rec = KeyRecord.model_validate(
        {"key_id": "mk_0123456789abcdef", "key_hash": "h", "team": "red", **limits}
    )
    return ClientIdentity(rec.key_id, rec.team, rec.user, rec)


async def test_rpm_admits_n_per_minute_then_resets() -> None:
    clock = Clock(datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC))
    gate = LimitGate(MemoryCounters(), clock=clock)
    ident = _ident(rpm=5)
    for _ in range(5):
        await gate.admit(ident)
    with pytest.raises(LimitExceeded) as info:
        await gate.admit(ident)
    err = info.value
    assert err.status == 429 and err.extra["limit"] == "rpm"
    assert err.reset_at == datetime(2026, 3, 1, 12, 1, tzinfo=UTC) and err.retry_after == 50
    assert (b"retry-after", b"50") in err.response_headers()
    clock.now += timedelta(seconds=50)  # the next minute: a fresh window
    await gate.admit(ident)


async def test_daily_budget_until_the_day_ends_and_monthly_until_the_month() -> None:
    clock = Clock(datetime(2026, 3, 31, 23, 0, tzinfo=UTC))
    gate = LimitGate(MemoryCounters(), clock=clock)
    ident = _ident(budget_usd_day=1.0, budget_usd_month=1.5)
    await gate.admit(ident)
    await gate.settle(ident, 100, 0.6)
    await gate.admit(ident)  # 0.6 < 1.0: still room
    await gate.settle(ident, 100, 0.6)  # overshoots by its own cost
    with pytest.raises(LimitExceeded) as info:
        await gate.admit(ident)
    assert info.value.extra["limit"] == "budget_usd_day"
    assert info.value.reset_at == datetime(2026, 4, 1, tzinfo=UTC)
    clock.now = datetime(2026, 4, 1, 0, 0, 1, tzinfo=UTC)  # a new day and a new month
    await gate.admit(ident)
    await gate.settle(ident, 100, 0.9)
    clock.now = datetime(2026, 4, 2, 0, 0, 1, tzinfo=UTC)  # new day, same month: 0.9 + 0.6
    await gate.settle(ident, 100, 0.6)
    with pytest.raises(LimitExceeded) as info:
        await gate.admit(ident)
    assert info.value.extra["limit"] == "budget_usd_month"
    assert info.value.reset_at == datetime(2026, 5, 1, tzinfo=UTC)


async def test_tpm_and_team_limits() -> None:
    clock = Clock(datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC))
    gate = LimitGate(MemoryCounters(), {"red": Limits(rpm=3)}, clock=clock)
    a, b = _ident(tpm=100), _ident()
    await gate.admit(a)
    await gate.settle(a, 100, None)
    with pytest.raises(LimitExceeded, match="key:mk_0123456789abcdef is over its tpm"):
        await gate.admit(a)
    await gate.admit(b)  # team red: 3rd request of the minute (the refused one counted too)
    with pytest.raises(LimitExceeded, match="team:red is over its rpm"):
        await gate.admit(b)


async def test_no_limits_no_counting() -> None:
    counters = MemoryCounters()
    gate = LimitGate(counters)
    for _ in range(100):
        await gate.admit(_ident())
    assert counters._values == {}
