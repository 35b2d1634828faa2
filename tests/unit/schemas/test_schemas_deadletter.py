from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from schemas.codec import decode, encode
from schemas.deadletter import EXCERPT_BYTES, dead_letter, excerpt, session_of
from schemas.events import DeadLetter
from schemas.ids import uuid7_time_ms

T = datetime(2026, 1, 1, 12, 0, 0, 123_000, tzinfo=UTC)


def make(**overrides: object) -> DeadLetter:
    kw: dict[str, object] = {
        "topic": "p.llm.requests",
        "partition": 2,
        "offset": 41,
        "key": b"s9",
        "value": b"\x00garbage",
        "reason": "undecodable",
        "consumer": "app",
        "source": "w1",
    }
    kw.update(overrides)
    return dead_letter(**kw)  # type: ignore[arg-type]


def test_excerpt_escapes_every_non_printable_byte_and_backslashes() -> None:
    assert excerpt(b"ok {") == "ok {"
    assert excerpt(b"a\x00b\nc\xff\td\re\x7f") == "a\\x00b\\nc\\xff\\td\\re\\x7f"
    assert excerpt("é".encode()) == "\\xc3\\xa9"
    assert excerpt(b"a\\x00") == "a\\\\x00"  # a literal backslash is not an escape
    assert excerpt(None) == "" and excerpt(b"") == ""


def test_excerpt_is_bounded_and_never_cuts_an_escape() -> None:
    assert EXCERPT_BYTES == 512
    assert excerpt(b"x" * 10_000) == "x" * 512
    escaped = excerpt(b"\xff" * 10_000)
    assert escaped == "\\xff" * 128  # 4 characters each: 128 fit in 512
    mixed = excerpt(b"x" * 510 + b"\xff")
    assert mixed == "x" * 510  # the escape would overflow: dropped whole
    assert all(len(excerpt(bytes([b]) * 1000)) <= 512 for b in range(256))


def test_session_is_the_utf8_key_else_unknown() -> None:
    assert session_of(b"sess-\xc3\xa9") == "sess-é"
    assert session_of(b"\xff\xfe") == "unknown"
    assert session_of(b"") == "unknown" and session_of(None) == "unknown"
    bad = make(key=b"\xffk")
    assert bad.session_id == "unknown" and bad.key == "\\xffk"
    assert make(key=None).key is None and make(key=b"").key is None


def test_fields_reason_bound_and_round_trip() -> None:
    d = make(reason="r" * 5000)
    assert (d.topic, d.partition, d.offset, d.session_id, d.key) == (
        "p.llm.requests",
        2,
        41,
        "s9",
        "s9",
    )
    assert (d.consumer, d.source, d.value_excerpt) == ("app", "w1", "\\x00garbage")
    assert d.reason == "r" * 1000
    assert decode(encode(d)) == d


def test_default_ids_are_fresh_and_stable_ids_are_deterministic_per_offset() -> None:
    assert make().event_id != make().event_id
    a, b = make(time=T, stable=True), make(time=T, stable=True)
    assert a == b and a.time == T
    assert uuid.UUID(a.event_id).version == 7
    assert uuid7_time_ms(a.event_id) == 1_767_268_800_123
    assert make(time=T, stable=True, offset=42).event_id != a.event_id
    assert make(time=T, stable=True, partition=3).event_id != a.event_id
    assert make(time=T).event_id != a.event_id  # time alone does not make it stable


def test_stable_id_needs_the_record_time() -> None:
    with pytest.raises(ValueError, match="time"):
        make(stable=True)
