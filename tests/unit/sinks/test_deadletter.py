from __future__ import annotations

from sinks.deadletter import dead_letters
from sinks.partition import BadRecord, ClosedFile


def test_bad_records_become_dead_letters_with_reason_and_a_bounded_excerpt() -> None:
    done = ClosedFile(
        table="requests",
        topic="p.llm.requests",
        partition=1,
        start_offset=10,
        end_offset=12,
        rows=0,
        first_time=None,
        first_event_id=None,
        chunks=[],
        bad=[
            BadRecord(10, b"sess-1", b"x" * 2000, "not JSON"),
            BadRecord(11, None, None, "tombstone"),
            BadRecord(12, None, b"\xff{", "not JSON"),
        ],
    )
    letters = dead_letters(done, source="sink-1", consumer="sink:g")
    assert [(k, e.offset, e.session_id) for k, e in letters] == [
        (b"sess-1", 10, "sess-1"),
        (None, 12, "unknown"),
    ]
    first = letters[0][1]
    assert first.topic == "p.llm.requests" and first.partition == 1 and first.reason == "not JSON"
    assert len(first.value_excerpt) == 512
    assert letters[1][1].value_excerpt == "\\xff{"
