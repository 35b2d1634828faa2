from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from proxy.enforcement.kills import KillRegistry
from tests.support.session_events import command

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_unknown_session_is_not_blocked() -> None:
    assert KillRegistry().check("nobody", T0) is None


def test_permanent_kill_blocks_until_resumed() -> None:
    reg = KillRegistry()
    kill = command("s1", "kill", T0)
    assert reg.apply(kill)
    assert reg.check("s1", T0 + timedelta(days=3650)) == kill
    assert reg.check("s2", T0) is None
    assert reg.apply(command("s1", "resume", T0 + timedelta(seconds=1)))
    assert reg.check("s1", T0 + timedelta(seconds=2)) is None


def test_duration_kill_expires() -> None:
    reg = KillRegistry()
    reg.apply(command("s1", "kill", T0, mode="duration", expires_at=T0 + timedelta(seconds=1)))
    assert reg.check("s1", T0 + timedelta(milliseconds=999)) is not None
    assert reg.check("s1", T0 + timedelta(seconds=1)) is None
    assert reg.prune(T0 + timedelta(seconds=2)) == 1
    assert reg.active(T0) == []


def test_until_kill_blocks_until_the_time() -> None:
    reg = KillRegistry()
    until = T0 + timedelta(hours=2)
    reg.apply(command("s1", "kill", T0, mode="until", expires_at=until))
    assert reg.check("s1", until - timedelta(seconds=1)) is not None
    assert reg.check("s1", until) is None


def test_a_kill_that_expired_before_replay_does_not_block() -> None:
    reg = KillRegistry()
    reg.apply(command("s1", "kill", T0, mode="duration", expires_at=T0 + timedelta(seconds=5)))
    assert reg.check("s1", T0 + timedelta(minutes=1)) is None


def test_older_command_is_ignored() -> None:
    reg = KillRegistry()
    assert reg.apply(command("s1", "resume", T0 + timedelta(seconds=5)))
    assert not reg.apply(command("s1", "kill", T0))
    assert reg.check("s1", T0 + timedelta(seconds=6)) is None


def test_repeated_decision_is_ignored_even_when_newer() -> None:
    reg = KillRegistry()
    reg.apply(command("s1", "kill", T0, decision_id="d1"))
    reg.apply(command("s1", "resume", T0 + timedelta(seconds=1)))
    # the streams worker re-sends decision d1 (at-least-once): it must not re-kill
    assert not reg.apply(command("s1", "kill", T0 + timedelta(seconds=2), decision_id="d1"))
    assert reg.check("s1", T0 + timedelta(seconds=3)) is None


def test_same_command_twice_changes_nothing() -> None:
    reg = KillRegistry()
    kill = command("s1", "kill", T0)
    assert reg.apply(kill)
    assert not reg.apply(kill)
    assert len(reg) == 1


@pytest.mark.parametrize(
    "order", list(itertools.permutations(range(4))), ids=lambda o: "".join(map(str, o))
)
def test_any_delivery_order_ends_in_the_same_state(order: tuple[int, ...]) -> None:
    commands = [
        command("s1", "kill", T0),
        command("s1", "resume", T0 + timedelta(seconds=1)),
        command(
            "s1",
            "kill",
            T0 + timedelta(seconds=2),
            mode="duration",
            expires_at=T0 + timedelta(hours=1),
        ),
        command("s2", "kill", T0),
    ]
    reg = KillRegistry()
    for i in order:
        reg.apply(commands[i])
    now = T0 + timedelta(seconds=3)
    assert reg.check("s1", now) == commands[2]
    assert reg.check("s2", now) == commands[3]
    assert reg.check("s1", T0 + timedelta(hours=2)) is None
    assert {c.session_id for c in reg.active(now)} == {"s1", "s2"}
