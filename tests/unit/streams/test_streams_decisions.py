from __future__ import annotations

from dataclasses import replace

from schemas.codec import decode, encode
from streams.decisions import THRESHOLD_RULE_ID, decision_id, judge, stable_event_id
from streams.state import SessionState
from tests.support.streams_fakes import T0, Rules, TinyEngine, request

BASE = T0.timestamp()


def _run(engine: TinyEngine, state: SessionState, text: str, at: float = 0.0):  # type: ignore[no-untyped-def]
    event = request(text, at=at)
    state.observe(event, BASE + at)
    findings = engine.evaluate(event, state.context(BASE + at, 600.0))
    return event, judge(event, findings, state, engine, now=BASE + at, source="w1")


def test_no_findings_no_output(engine: TinyEngine) -> None:
    _, verdict = _run(engine, SessionState("s1"), "hello")
    assert verdict.violations == [] and verdict.command is None


def test_kill_rule_gives_violation_and_one_command(engine: TinyEngine) -> None:
    state = SessionState("s1")
    event, verdict = _run(engine, state, "KILLME")
    assert [v.rule_id for v in verdict.violations] == ["t.kill"]
    v = verdict.violations[0]
    assert v.subject_event_id == event.event_id and v.enforced and v.policy_version == "tiny-1"
    cmd = verdict.command
    assert cmd is not None and cmd.command == "kill" and cmd.rule_id == "t.kill"
    assert cmd.decision_id == decision_id("s1", "t.kill", event.event_id)
    assert cmd.block_mode == "duration"
    assert cmd.expires_at is not None and (cmd.expires_at - event.time).total_seconds() == 900
    assert state.kill_in_force(BASE + 1)
    # the command is a valid event on the wire
    assert decode(encode(cmd)) == cmd


def test_ids_are_deterministic_across_replays(engine: TinyEngine) -> None:
    event = request("KILLME secret")
    outs = []
    for _ in range(2):
        state = SessionState("s1")
        state.observe(event, BASE)
        findings = engine.evaluate(event, state.context(BASE, 600.0))
        outs.append(judge(event, findings, state, engine, now=BASE, source="w1"))
    assert [v.event_id for v in outs[0].violations] == [v.event_id for v in outs[1].violations]
    assert outs[0].command == outs[1].command
    assert len({v.event_id for v in outs[0].violations}) == 2


def test_same_rule_twice_gets_distinct_ids(engine: TinyEngine) -> None:
    _, verdict = _run(engine, SessionState("s1"), "secret and secret")
    assert len({v.event_id for v in verdict.violations}) == 2


def test_no_second_kill_while_one_is_in_force(engine: TinyEngine) -> None:
    state = SessionState("s1")
    _, first = _run(engine, state, "KILLME", at=0)
    _, second = _run(engine, state, "KILLME", at=10)
    assert first.command is not None
    assert second.command is None and [v.rule_id for v in second.violations] == ["t.kill"]
    # after the block expires a new attack is a new decision
    _, third = _run(engine, state, "KILLME", at=1000)
    assert third.command is not None
    assert third.command.decision_id != first.command.decision_id


def test_risk_threshold_kills_once(engine: TinyEngine) -> None:
    state = SessionState("s1")
    results = [_run(engine, state, "secret", at=i)[1] for i in range(6)]  # 25 points each
    commands = [r.command for r in results if r.command is not None]
    assert len(commands) == 1
    assert commands[0].rule_id == THRESHOLD_RULE_ID
    crossing = next(r for r in results if r.command is not None)
    session_v = [v for v in crossing.violations if v.rule_id == THRESHOLD_RULE_ID]
    assert len(session_v) == 1 and session_v[0].target == "session"
    assert session_v[0].risk_score is not None and session_v[0].risk_score >= 100


def test_risk_decays_below_threshold(engine: TinyEngine) -> None:
    state = SessionState("s1")
    # 25 points every hour, half-life 10 minutes: never adds up to 100
    results = [_run(engine, state, "secret", at=i * 3600)[1] for i in range(8)]
    assert all(r.command is None for r in results)


def test_audit_mode_never_commands_but_records_once() -> None:
    engine = TinyEngine(mode="audit")
    state = SessionState("s1")
    _, first = _run(engine, state, "KILLME", at=0)
    _, second = _run(engine, state, "KILLME", at=5)
    assert first.command is None and second.command is None
    assert all(not v.enforced and v.mode == "audit" for v in first.violations)
    assert len(state.decisions) == 1


def test_permanent_block_has_no_expiry() -> None:
    engine = TinyEngine(session=replace(Rules(), kill_block_mode="permanent"))
    state = SessionState("s1")
    _, verdict = _run(engine, state, "KILLME")
    assert verdict.command is not None and verdict.command.expires_at is None
    assert state.kill_in_force(BASE + 10**7)


def test_a_remembered_decision_is_not_reissued(engine: TinyEngine) -> None:
    state = SessionState("s1")
    event = request("KILLME")
    state.remember(decision_id("s1", "t.kill", event.event_id))
    findings = engine.evaluate(event, state.context(BASE, 600.0))
    verdict = judge(event, findings, state, engine, now=BASE, source="w1")
    assert verdict.command is None and len(verdict.violations) == 1


def test_stable_event_id_is_a_sortable_uuid7() -> None:
    a = stable_event_id(1_000, "x")
    b = stable_event_id(2_000, "x")
    assert a == stable_event_id(1_000, "x") and a != stable_event_id(1_000, "y")
    assert a[14] == "7" and a < b
