from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.events import ChatMessage, SessionCommand
from schemas.ids import uuid7
from streams.errors import StateError
from streams.policy.turns import part_key
from streams.state import BASELINE_MIN_SAMPLES, MAX_DECISIONS, SessionState, decayed
from tests.support.streams_fakes import T0, request, response

BASE = T0.timestamp()


@pytest.mark.parametrize(
    ("score", "elapsed", "half_life", "expected"),
    [
        (100.0, 0.0, 600.0, 100.0),
        (100.0, 600.0, 600.0, 50.0),
        (100.0, 1200.0, 600.0, 25.0),
        (80.0, -30.0, 600.0, 80.0),  # time going backwards never grows or shrinks it
        (0.0, 600.0, 600.0, 0.0),
        (40.0, 600.0, 0.0, 40.0),  # no half-life: no decay
    ],
)
def test_decay_halves_every_half_life(
    score: float, elapsed: float, half_life: float, expected: float
) -> None:
    assert decayed(score, BASE, BASE + elapsed, half_life) == pytest.approx(expected)


def test_add_risk_decays_then_adds() -> None:
    s = SessionState("s1")
    assert s.add_risk(60.0, BASE, 600.0) == 60.0
    assert s.add_risk(25.0, BASE + 600.0, 600.0) == pytest.approx(55.0)
    # an out-of-order (older) event adds points without rewinding the clock
    assert s.add_risk(5.0, BASE + 10.0, 600.0) == pytest.approx(60.0)
    assert s.risk_at == BASE + 600.0


def test_observe_counts_requests_responses_and_windows() -> None:
    s = SessionState("s1")
    s.observe(request("hi", at=0, body_bytes=40), BASE)
    s.observe(response("yo", at=1, tokens=12), BASE + 1)
    assert (s.requests_total, s.responses_total, s.tokens_total) == (1, 1, 12)
    assert s.bytes_total == 140
    assert s.started_at == BASE and s.last_seen == BASE + 1


def test_requests_last_minute_slides() -> None:
    s = SessionState("s1")
    for i in range(10):
        s.observe(request("x"), BASE + i * 10)  # 0..90 s
    assert s.requests_last_minute(BASE + 90) == 7  # 30..90 s, bucket-aligned
    assert s.requests_last_minute(BASE + 500) == 0
    assert len(s.rpm_buckets) <= 14


def test_baseline_needs_enough_active_minutes() -> None:
    s = SessionState("s1")
    minute = 0
    for minute in range(BASELINE_MIN_SAMPLES + 1):
        for k in range(6):
            s.observe(request("x"), BASE + minute * 60 + k)
        ctx = s.context(BASE + minute * 60 + 6, 600.0)
        if minute < BASELINE_MIN_SAMPLES:
            assert ctx.baseline_rpm is None
    assert s.baseline_samples == BASELINE_MIN_SAMPLES
    assert s.context(BASE + minute * 60 + 6, 600.0).baseline_rpm == pytest.approx(6.0)


def test_seen_and_mark_make_replays_skippable() -> None:
    s = SessionState("s1")
    ids = [uuid7() for _ in range(7)]
    assert not s.seen("t", 0, 5, ids[5])
    s.mark("t", 0, 5, ids[5])
    assert s.seen("t", 0, 5, ids[5]) and s.seen("t", 0, 4, ids[4])
    assert not s.seen("t", 0, 6, ids[6])
    assert not s.seen("other", 0, 1, ids[1])
    assert not s.seen("t", 1, 1, ids[1])  # another partition has its own position


def test_a_broker_reset_is_not_taken_for_a_replay() -> None:
    """Offsets restart at 0 on a new log: the worker's state must not skip those events."""
    s = SessionState("s1")
    s.mark("t", 0, 41, uuid7())
    fresh = [uuid7() for _ in range(3)]  # produced after the reset
    assert not s.seen("t", 0, 0, fresh[0])
    s.mark("t", 0, 0, fresh[0])
    assert not s.seen("t", 0, 1, fresh[1])
    s.mark("t", 0, 1, fresh[1])
    assert s.seen("t", 0, 0, fresh[0])  # and replays of the new log are skipped again
    assert s.seen("t", 0, 1, fresh[1])
    # The same offset holding another event is another log too.
    assert not s.seen("t", 0, 1, uuid7())


def test_remember_is_bounded_and_deduplicates() -> None:
    s = SessionState("s1")
    assert s.remember("d1") and not s.remember("d1")
    for i in range(MAX_DECISIONS + 10):
        s.remember(f"x{i}")
    assert len(s.decisions) == MAX_DECISIONS
    assert s.decisions[-1] == f"x{MAX_DECISIONS + 9}"


def test_bytes_round_trip_keeps_everything() -> None:
    s = SessionState("s1")
    for i in range(5):
        s.observe(request("x"), BASE + i * 30)
    s.add_risk(42.0, BASE, 600.0)
    s.mark("topic", 2, 9, uuid7())
    s.remember("d1")
    s.kill_active, s.kill_expires = True, BASE + 900
    back = SessionState.from_bytes(s.to_bytes())
    assert back == s


def test_judged_parts_are_stored_and_copied_apart() -> None:
    s = SessionState("s1")
    first, second = ChatMessage(role="user", content="a"), ChatMessage(role="user", content="b")
    s.judged_parts("v1").remember([part_key(first)])
    copy = s.copy()
    copy.judged_parts("v1").remember([part_key(second)])
    assert len(s.judged_parts("v1")) == 1 and len(copy.judged_parts("v1")) == 2
    back = SessionState.from_bytes(copy.to_bytes())
    assert back == copy
    assert back.judged_parts("v1").new_parts([first, second])[0] == ()
    # another policy version judges everything again
    assert back.judged_parts("v2").new_parts([first, second])[0] == (0, 1)


def test_from_bytes_rejects_garbage() -> None:
    with pytest.raises(StateError):
        SessionState.from_bytes(b"{not json")
    with pytest.raises(StateError):
        SessionState.from_bytes(b"[1, 2]")


def _command(kind: str, **kw: object) -> SessionCommand:
    return SessionCommand(
        source="op",
        session_id="s1",
        time=T0,
        command=kind,  # type: ignore[arg-type]
        issuer="operator",
        decision_id="op-1",
        **kw,  # type: ignore[arg-type]
    )


def test_kill_and_resume_commands_are_followed() -> None:
    s = SessionState("s1")
    s.add_risk(90.0, BASE, 600.0)
    s.apply_command(_command("kill", block_mode="duration", expires_at=T0 + timedelta(seconds=60)))
    assert s.kill_in_force(BASE + 59) and not s.kill_in_force(BASE + 61)
    s.apply_command(_command("kill", block_mode="permanent"))
    assert s.kill_in_force(BASE + 10**6)
    s.apply_command(_command("resume"))
    assert not s.kill_in_force(BASE + 1)
    assert s.risk_at_time(BASE + 1, 600.0) == 0.0
