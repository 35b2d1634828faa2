"""Session kills escalate to a key kill: pure, by the commands' own times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.events import SessionCommand
from streams.escalation import ESCALATION_RULE_ID, KeyEscalation

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def kill(session: str, at: datetime, key_id: str | None = "mk_0123456789abcdef") -> SessionCommand:
    return SessionCommand(
        source="streams-1", session_id=session, time=at, command="kill", issuer="streams-1",
        decision_id=f"d-{session}-{at.timestamp()}", key_id=key_id, team="red", user="ana",
    )  # fmt: skip


def key_cmd(command: str, at: datetime) -> SessionCommand:
    return SessionCommand(
        source="op", session_id="key:mk_0123456789abcdef", scope="key",
        subject="mk_0123456789abcdef", time=at, command=command,  # type: ignore[arg-type]
        issuer="op", decision_id=f"k-{command}-{at.timestamp()}",
    )  # fmt: skip


def test_three_sessions_in_ten_minutes_kill_the_key() -> None:
    esc = KeyEscalation(3, 600, source="streams-1")
    now = T0 + timedelta(minutes=9)
    assert esc.observe(kill("mk_0123456789abcdef:a", T0), now) is None
    assert esc.observe(kill("mk_0123456789abcdef:a", T0 + timedelta(minutes=1)), now) is None
    assert esc.observe(kill("mk_0123456789abcdef:b", T0 + timedelta(minutes=5)), now) is None
    out = esc.observe(kill("mk_0123456789abcdef:c", T0 + timedelta(minutes=9)), now)
    assert out is not None
    assert (out.scope, out.subject, out.session_id) == (
        "key",
        "mk_0123456789abcdef",
        "key:mk_0123456789abcdef",
    )
    assert (out.command, out.rule_id, out.team, out.user) == (
        "kill",
        ESCALATION_RULE_ID,
        "red",
        "ana",
    )
    # Once killed, further session kills add nothing.
    assert esc.observe(kill("mk_0123456789abcdef:d", T0 + timedelta(minutes=9)), now) is None


def test_same_decision_on_every_worker() -> None:
    cmds = [
        kill(f"mk_0123456789abcdef:{s}", T0 + timedelta(minutes=i)) for i, s in enumerate("abc")
    ]
    now = T0 + timedelta(minutes=3)
    outs = []
    for _ in range(2):
        esc = KeyEscalation(3, 600, source="streams-x")
        outs.append([esc.observe(c, now) for c in cmds][-1])
    assert outs[0] is not None and outs[0] == outs[1]


def test_spread_out_old_unkeyed_or_resumed_kills_do_not_escalate() -> None:
    esc = KeyEscalation(3, 600, source="s")
    late = T0 + timedelta(hours=1)
    for i, s in enumerate("abc"):  # 11 minutes apart: never 3 in a window
        assert esc.observe(kill(f"k:{s}", T0 + timedelta(minutes=11 * i)), late) is None
    esc = KeyEscalation(3, 600, source="s")
    for s in "abc":  # a replay of kills an hour old
        assert esc.observe(kill(f"k:{s}", T0), late) is None
    esc = KeyEscalation(3, 600, source="s")
    for s in "abc":
        assert esc.observe(kill(f"k:{s}", T0, key_id=None), T0) is None
    esc = KeyEscalation(3, 600, source="s")
    esc.observe(kill("k:a", T0), T0)
    esc.observe(kill("k:b", T0 + timedelta(seconds=1)), T0)
    esc.observe(key_cmd("resume", T0 + timedelta(seconds=2)), T0)
    assert esc.observe(kill("k:c", T0 + timedelta(seconds=3)), T0) is None
    assert esc.observe(kill("k:d", T0 + timedelta(seconds=4)), T0) is None
    assert esc.observe(kill("k:e", T0 + timedelta(seconds=5)), T0) is not None
    assert KeyEscalation(0, 600, source="s").observe(kill("k:a", T0), T0) is None
