from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from proxy.enforcement.kills import KillRegistry
from schemas.events import BlockMode, CommandKind, SessionCommand
from schemas.ids import uuid7

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def cmd(
    command: CommandKind = "kill",
    *,
    sid: str = "s1",
    at: datetime = T0,
    mode: BlockMode | None = "permanent",
    expires: datetime | None = None,
    decision: str | None = None,
) -> SessionCommand:
    return SessionCommand(
        source="test",
        session_id=sid,
        time=at,
        command=command,
        block_mode=mode if command == "kill" else None,
        expires_at=expires,
        reason="r",
        rule_id="rule.x",
        issuer="test",
        decision_id=decision or uuid7(),
    )


def test_unknown_session_is_not_blocked() -> None:
    assert KillRegistry().check("nobody", T0) is None


def test_permanent_kill_blocks_until_resumed() -> None:
    reg = KillRegistry()
    kill = cmd()
    assert reg.apply(kill)
    assert reg.check("s1", T0 + timedelta(days=3650)) == kill
    assert reg.check("s2", T0) is None
    assert reg.apply(cmd("resume", at=T0 + timedelta(seconds=1)))
    assert reg.check("s1", T0 + timedelta(seconds=2)) is None


def test_duration_kill_expires() -> None:
    reg = KillRegistry()
    reg.apply(cmd(mode="duration", expires=T0 + timedelta(seconds=1)))
    assert reg.check("s1", T0 + timedelta(milliseconds=999)) is not None
    assert reg.check("s1", T0 + timedelta(seconds=1)) is None
    assert reg.prune(T0 + timedelta(seconds=2)) == 1
    assert reg.active(T0) == []


def test_until_kill_blocks_until_the_time() -> None:
    reg = KillRegistry()
    until = T0 + timedelta(hours=2)
    reg.apply(cmd(mode="until", expires=until))
    assert reg.check("s1", until - timedelta(seconds=1)) is not None
    assert reg.check("s1", until) is None


def test_a_kill_that_expired_before_replay_does_not_block() -> None:
    reg = KillRegistry()
    reg.apply(cmd(mode="duration", expires=T0 + timedelta(seconds=5)))
    assert reg.check("s1", T0 + timedelta(minutes=1)) is None


def test_older_command_is_ignored() -> None:
    reg = KillRegistry()
    assert reg.apply(cmd("resume", at=T0 + timedelta(seconds=5)))
    assert not reg.apply(cmd("kill", at=T0))
    assert reg.check("s1", T0 + timedelta(seconds=6)) is None


def test_repeated_decision_is_ignored_even_when_newer() -> None:
    reg = KillRegistry()
    reg.apply(cmd("kill", decision="d1"))
    reg.apply(cmd("resume", at=T0 + timedelta(seconds=1)))
    # the streams worker re-sends decision d1 (at-least-once): it must not re-kill
    assert not reg.apply(cmd("kill", at=T0 + timedelta(seconds=2), decision="d1"))
    assert reg.check("s1", T0 + timedelta(seconds=3)) is None


def test_same_command_twice_changes_nothing() -> None:
    reg = KillRegistry()
    kill = cmd()
    assert reg.apply(kill)
    assert not reg.apply(kill)
    assert len(reg) == 1


@pytest.mark.parametrize(
    "order", list(itertools.permutations(range(4))), ids=lambda o: "".join(map(str, o))
)
def test_any_delivery_order_ends_in_the_same_state(order: tuple[int, ...]) -> None:
    commands = [
        cmd("kill", at=T0),
        cmd("resume", at=T0 + timedelta(seconds=1)),
        cmd("kill", at=T0 + timedelta(seconds=2), mode="duration", expires=T0 + timedelta(hours=1)),
        cmd("kill", sid="s2", at=T0),
    ]
    reg = KillRegistry()
    for i in order:
        reg.apply(commands[i])
    now = T0 + timedelta(seconds=3)
    assert reg.check("s1", now) == commands[2]
    assert reg.check("s2", now) == commands[3]
    assert reg.check("s1", T0 + timedelta(hours=2)) is None
    assert {c.session_id for c in reg.active(now)} == {"s1", "s2"}
