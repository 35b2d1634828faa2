from __future__ import annotations

from streams.deadletter import EXCERPT_BYTES, dead_letter, excerpt


def test_excerpt_escapes_and_bounds() -> None:
    assert excerpt(b"ok {") == "ok {"
    assert excerpt(b"a\x00b\nc\xff") == "a\\x00b\\nc\\xff"
    assert len(excerpt(b"x" * 10_000)) == EXCERPT_BYTES
    assert excerpt(None) == ""


def test_dead_letter_is_deterministic_per_offset() -> None:
    kw = dict(
        topic="p.llm.requests",
        partition=2,
        offset=41,
        key=b"s9",
        value=b"\x00garbage",
        reason="undecodable",
        consumer="app",
        source="w1",
        timestamp_ms=1_700_000_000_000,
    )
    a = dead_letter(**kw)  # type: ignore[arg-type]
    b = dead_letter(**kw)  # type: ignore[arg-type]
    assert a == b
    assert (a.topic, a.partition, a.offset, a.session_id, a.key) == (
        "p.llm.requests",
        2,
        41,
        "s9",
        "s9",
    )
    assert a.value_excerpt == "\\x00garbage"
    c = dead_letter(**{**kw, "offset": 42, "key": None})  # type: ignore[arg-type]
    assert c.event_id != a.event_id and c.session_id == "unknown" and c.key is None
