from __future__ import annotations

from datetime import timedelta

from schemas.codec import decode, encode
from schemas.events import DeadLetter, SessionCommand, Violation
from schemas.topics import Topics
from streams.processor import EventRecord, Output, Processor
from streams.state import SessionState
from tests.support.streams_fakes import SIGNER, T0, TinyEngine, request, response

TOPICS = Topics("p.")


class Table:
    """The faust table as the processor sees it: a dict of state bytes."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def load(self, session_id: str) -> SessionState | None:
        value = self.data.get(session_id)
        return None if value is None else SessionState.from_bytes(value)

    def save(self, states: dict[str, SessionState]) -> None:
        self.data.update({k: v.to_bytes() for k, v in states.items()})


def rec(topic: str, offset: int, value: bytes | None, key: bytes | None = b"s1") -> EventRecord:
    return EventRecord(topic, 0, offset, key, value, 1_767_268_800_000)


def make(engine: TinyEngine) -> Processor:
    return Processor(lambda: engine, TOPICS, source="w1", consumer="app", signer=SIGNER)


def test_events_update_state_and_emit_violations(engine: TinyEngine) -> None:
    table = Table()
    records = [
        rec(TOPICS.requests, 0, encode(request("hello", at=0))),
        rec(TOPICS.responses, 0, encode(response("hi there", at=1, tokens=30))),
        rec(TOPICS.requests, 1, encode(request("KILLME", at=2))),
    ]
    result = make(engine).process(records, table.load)
    table.save(result.states)
    assert (result.events, result.violations, result.commands) == (3, 1, 1)
    topics = [o.topic for o in result.outputs]
    assert topics == [TOPICS.violations, TOPICS.commands]
    assert all(o.key == b"s1" for o in result.outputs)
    assert isinstance(decode(result.outputs[0].value), Violation)
    state = table.load("s1")
    assert state is not None
    assert (state.requests_total, state.responses_total, state.tokens_total) == (2, 1, 30)
    assert {k: v[0] for k, v in state.positions.items()} == {
        f"{TOPICS.requests}:0": 1,
        f"{TOPICS.responses}:0": 0,
    }
    # rules saw the state including the event being judged
    assert [c.requests_total for c in engine.contexts] == [1, 1, 2]


def test_replay_after_crash_changes_nothing(engine: TinyEngine) -> None:
    table = Table()
    records = [
        rec(TOPICS.requests, i, encode(request(t, at=i))) for i, t in enumerate(["a", "KILLME"])
    ]
    proc = make(engine)
    first = proc.process(records, table.load)
    table.save(first.states)
    before = table.data["s1"]
    again = proc.process(records, table.load)  # offsets were not committed: same records again
    assert again.outputs == [] and again.replayed == 2 and again.states == {}
    assert table.data["s1"] == before


def test_after_a_broker_reset_new_events_are_judged_not_skipped(engine: TinyEngine) -> None:
    """A restarted in-memory broker starts offsets at 0 again; the worker kept its state."""
    table = Table()
    old = [rec(TOPICS.requests, i, encode(request("a", at=i))) for i in range(5)]
    proc = make(engine)
    table.save(proc.process(old, table.load).states)
    new = [
        rec(TOPICS.requests, 0, encode(request("b", at=10))),
        rec(TOPICS.requests, 1, encode(request("KILLME", at=11))),
    ]
    result = proc.process(new, table.load)
    table.save(result.states)
    assert result.replayed == 0 and result.events == 2 and result.commands == 1
    assert table.load("s1").requests_total == 7  # type: ignore[union-attr]
    again = proc.process(new, table.load)  # and the new log's replays are skipped
    assert again.replayed == 2 and again.outputs == []


def test_replay_without_saved_state_repeats_identical_outputs(engine: TinyEngine) -> None:
    records = [rec(TOPICS.requests, 0, encode(request("KILLME")))]
    a = make(engine).process(records, Table().load)
    b = make(engine).process(records, Table().load)
    assert a.outputs == b.outputs  # same ids: downstream dedupes


def test_poison_messages_become_dead_letters_and_processing_goes_on(engine: TinyEngine) -> None:
    viol = Violation(
        source="x",
        session_id="s1",
        rule_id="r",
        owasp="LLM01",
        severity="high",
        action="flag",
        enforced=True,
        target="request",
    )
    records = [
        rec(TOPICS.requests, 0, b"{not json"),
        rec(TOPICS.requests, 1, None),
        rec(TOPICS.requests, 2, encode(viol)),  # valid event, wrong topic
        rec(TOPICS.commands, 0, encode(request("hello"))),  # not a command
        rec(TOPICS.requests, 3, encode(request("KILLME"))),
    ]
    result = make(engine).process(records, Table().load)
    letters = [decode(o.value) for o in result.outputs if o.topic == TOPICS.deadletter]
    assert [d.offset for d in letters if isinstance(d, DeadLetter)] == [0, 1, 2, 0]
    assert all(isinstance(d, DeadLetter) and d.consumer == "app" for d in letters)
    assert "undecodable" in letters[0].reason  # type: ignore[union-attr]
    assert "audit.violation.v1" in letters[2].reason  # type: ignore[union-attr]
    assert result.commands == 1 and result.dead_letters == 4


def test_rule_crash_is_dead_lettered_but_counted(engine: TinyEngine) -> None:
    table = Table()
    result = make(engine).process([rec(TOPICS.requests, 0, encode(request("boom")))], table.load)
    assert result.dead_letters == 1
    assert "RuntimeError" in decode(result.outputs[0].value).reason  # type: ignore[union-attr]
    table.save(result.states)
    assert table.load("s1").requests_total == 1  # type: ignore[union-attr]


def test_command_topic_resume_lifts_the_kill(engine: TinyEngine) -> None:
    table = Table()
    proc = make(engine)
    first = proc.process([rec(TOPICS.requests, 0, encode(request("KILLME", at=0)))], table.load)
    table.save(first.states)
    own = decode(first.outputs[-1].value)
    assert isinstance(own, SessionCommand)
    resume = SessionCommand(
        source="cli",
        session_id="s1",
        time=T0 + timedelta(seconds=5),
        command="resume",
        issuer="operator",
        decision_id="op-resume-1",
    )
    # Someone who can write the topic but holds no key: ignored, counted.
    forged = proc.process([rec(TOPICS.commands, 0, encode(resume))], table.load)
    assert forged.commands_rejected == 1 and forged.states == {}
    tampered = SIGNER.sign(resume).model_copy(update={"session_id": "s2"})
    assert proc.process([rec(TOPICS.commands, 0, encode(tampered))], table.load).commands_rejected
    assert SIGNER.verify(own) == "ok"  # the worker signs its own kills
    resume = SIGNER.sign(resume)
    echo = proc.process(
        [rec(TOPICS.commands, 0, encode(own)), rec(TOPICS.commands, 1, encode(resume))],
        table.load,
    )
    table.save(echo.states)
    # The resume ends the session's commands: a tombstone lets compaction drop them.
    assert echo.outputs == [Output(TOPICS.commands, b"s1", None)]
    tomb = proc.process([rec(TOPICS.commands, 2, None)], table.load)
    assert tomb.dead_letters == 0 and tomb.outputs == []
    again = proc.process([rec(TOPICS.requests, 1, encode(request("KILLME", at=10)))], table.load)
    assert again.commands == 1  # a new decision after the operator's resume


def test_an_operator_kill_prevents_a_duplicate_worker_kill(engine: TinyEngine) -> None:
    table = Table()
    op_kill = SessionCommand(
        source="cli",
        session_id="s1",
        time=T0,
        command="kill",
        block_mode="permanent",
        issuer="operator",
        decision_id="op-kill-1",
    )
    op_kill = SIGNER.sign(op_kill)
    proc = make(engine)
    table.save(proc.process([rec(TOPICS.commands, 0, encode(op_kill))], table.load).states)
    result = proc.process([rec(TOPICS.requests, 0, encode(request("KILLME", at=1)))], table.load)
    assert result.commands == 0 and result.violations == 1


def test_a_corrupt_state_record_fails_open(engine: TinyEngine) -> None:
    table = Table()
    table.data["s1"] = b"\x00corrupt"
    result = make(engine).process([rec(TOPICS.requests, 0, encode(request("hi")))], table.load)
    assert result.events == 1 and result.states["s1"].requests_total == 1


def test_a_response_is_spent_once_replays_included(engine: TinyEngine) -> None:
    table = Table()
    records = [
        rec(TOPICS.requests, 0, encode(request("hello", at=0))),
        rec(TOPICS.responses, 0, encode(response("hi there", at=1, tokens=30))),
    ]
    proc = make(engine)
    first = proc.process(records, table.load)
    table.save(first.states)
    assert [(p, e.session_id) for p, e in first.spent] == [(0, "s1")]  # responses only
    again = proc.process(records, table.load)  # a replay: already counted
    assert again.spent == []
