from __future__ import annotations

from datetime import UTC, datetime

from schemas.codec import decode
from schemas.deadletter import stable_id
from schemas.events import DeadLetter
from schemas.topics import Topics
from streams.decisions import stable_event_id
from streams.processor import EventRecord, Processor
from tests.support.streams_fakes import SIGNER, TinyEngine

TOPICS = Topics("p.")
TS = 1_700_000_000_123


def letter(offset: int, key: bytes | None = b"s9") -> DeadLetter:
    proc = Processor(lambda: TinyEngine(), TOPICS, source="w1", consumer="app", signer=SIGNER)
    record = EventRecord(TOPICS.requests, 2, offset, key, b"\x00garbage", TS)
    [out] = proc.process([record], lambda _sid: None).outputs
    assert out.topic == TOPICS.deadletter
    event = decode(out.value)
    assert isinstance(event, DeadLetter)
    return event


def test_dead_letter_is_deterministic_per_offset() -> None:
    a, b = letter(41), letter(41)
    assert a == b  # a replay republishes the same event: downstream dedupes it
    assert a.event_id == stable_event_id(TS, f"{TOPICS.requests}|2|41")
    assert a.time == datetime.fromtimestamp(TS / 1000, UTC)
    assert (a.topic, a.partition, a.offset, a.session_id, a.key) == (
        TOPICS.requests,
        2,
        41,
        "s9",
        "s9",
    )
    assert a.value_excerpt == "\\x00garbage"
    c = letter(42, key=None)
    assert c.event_id != a.event_id and c.session_id == "unknown" and c.key is None


def test_streams_ids_and_the_shared_builder_agree() -> None:
    assert stable_event_id(TS, "x|1|2") == stable_id(TS, "x|1|2")
