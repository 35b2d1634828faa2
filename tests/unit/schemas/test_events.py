from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from pydantic import ValidationError

from schemas import (
    TABLES,
    ChatMessage,
    DecodeError,
    LLMRequest,
    LLMResponse,
    SessionCommand,
    ToolCall,
    Topics,
    Violation,
    arrow_schema,
    decode,
    decode_as,
    encode,
    encode_key,
    fingerprint,
    uuid7,
)
from schemas.ids import uuid7_time_ms


def _request(**kw: object) -> LLMRequest:
    base: dict[str, object] = {
        "source": "proxy-1",
        "session_id": "s-1",
        "backend": "openai",
        "provider": "openai",
        "path": "/v1/chat/completions",
        "messages": [ChatMessage(role="user", content="héllo ✓")],
    }
    base.update(kw)
    return LLMRequest.model_validate(base)


def test_round_trip_every_type() -> None:
    events = [
        _request(),
        LLMResponse(
            source="p",
            session_id="s",
            backend="b",
            provider="anthropic",
            path="/v1/messages",
            status_code=200,
            latency_ms=1.5,
            tool_calls=[ToolCall(name="ls", arguments="{}")],
        ),
        SessionCommand(source="w", session_id="s", command="kill", issuer="w", decision_id="d"),
    ]
    for event in events:
        assert decode(encode(event)) == event
        assert decode_as(type(event), encode(event)) == event


def test_envelope_defaults_and_key() -> None:
    event = _request()
    assert event.type == "llm.request.v1"
    assert event.time.tzinfo is not None
    assert encode_key(event) == b"s-1"


def test_models_are_frozen_and_strict() -> None:
    event = _request()
    with pytest.raises(ValidationError):
        event.model_copy(update={}).__setattr__("session_id", "x")
    with pytest.raises(ValidationError):
        _request(unknown_field=1)


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"{}", b'{"type": "nope.v1"}', b'{"type": "llm.request.v1", "source": "x"}'],
)
def test_decode_errors_are_decode_error(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        decode(raw)


def test_uuid7_sortable_and_timed() -> None:
    ids = [uuid7() for _ in range(2000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    assert abs(uuid7_time_ms(ids[-1]) - now_ms) < 5000


def test_fingerprint_hides_key() -> None:
    fp = fingerprint("sk-secret-key-123", "salt")
    assert "secret" not in fp and fp.startswith("fp_")
    assert fp == fingerprint("sk-secret-key-123", "salt")
    assert fp != fingerprint("sk-secret-key-123", "other")


def test_kill_command_activity() -> None:
    now = datetime.now(UTC)
    cmd = SessionCommand(
        source="w",
        session_id="s",
        command="kill",
        block_mode="duration",
        expires_at=now + timedelta(seconds=5),
        issuer="w",
        decision_id="d",
    )
    assert cmd.active_at(now)
    assert not cmd.active_at(now + timedelta(seconds=6))
    permanent = cmd.model_copy(update={"block_mode": "permanent", "expires_at": None})
    assert permanent.active_at(now + timedelta(days=999))
    resume = cmd.model_copy(update={"command": "resume"})
    assert not resume.active_at(now)


def test_arrow_schema_matches_models() -> None:
    for model in TABLES.values():
        schema = arrow_schema(model)
        assert schema.names == list(model.model_fields)
        assert all(field.nullable for field in schema)
    resp = arrow_schema(LLMResponse)
    assert resp.field("time").type == pa.timestamp("us", tz="UTC")
    assert resp.field("tool_calls").type == pa.list_(
        pa.struct([("id", pa.string()), ("name", pa.string()), ("arguments", pa.string())])
    )
    assert arrow_schema(Violation).field("evidence").type.value_type.num_fields == 4


def test_arrow_table_from_events() -> None:
    events = [_request(session_id=f"s{i}") for i in range(3)]
    table = pa.Table.from_pylist([e.model_dump() for e in events], schema=arrow_schema(LLMRequest))
    assert table.num_rows == 3
    assert table.column("messages").to_pylist()[0][0]["content"] == "héllo ✓"


def test_topics_prefix_and_tables() -> None:
    topics = Topics("dev.")
    assert topics.requests == "dev.llm.requests"
    assert topics.commands == "dev.session.commands"
    assert topics.table_of("dev.llm.responses") == "responses"
    assert topics.table_of("other") is None
    assert topics.for_event(_request()) == "dev.llm.requests"
    assert len(set(topics.all())) == 7
