"""`proxy.construct.Constructor` builds what `model_construct` builds; fails when pydantic changes."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field

from proxy.construct import Constructor
from schemas.codec import encode
from schemas.events import ChatMessage, LLMRequest, LLMResponse, StreamWindow, ToolCall

_STATE = ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")


def _state(m: BaseModel) -> list[Any]:
    return [getattr(m, a) for a in _STATE]


def _same(cls: type[BaseModel], **values: Any) -> BaseModel:
    built = Constructor(cls)(**dict(values))
    expected = cls.model_construct(**dict(values))
    assert type(built) is cls
    skip = {"event_id", "time"} - values.keys()  # factories: fresh values each call
    assert list(built.__dict__) == list(expected.__dict__)  # same fields, same order
    assert {k: v for k, v in built.__dict__.items() if k not in skip} == {
        k: v for k, v in expected.__dict__.items() if k not in skip
    }
    assert _state(built)[1:] == _state(expected)[1:]
    if not skip:
        assert built == expected
        assert encode(built) == encode(expected)  # type: ignore[arg-type]
    return built


REQUEST: dict[str, Any] = {
    "event_id": "0190a0b0-0000-7000-8000-000000000001",
    "time": LLMRequest.model_fields["time"].default_factory(),  # type: ignore[call-arg,misc]
    "source": "proxy-1",
    "session_id": "mk_1:s",
    "request_id": "0190a0b0-0000-7000-8000-000000000001",
    "backend": "fake",
    "provider": "openai",
    "path": "/v1/chat/completions",
    "messages": [ChatMessage(role="user", content="hi")],
    "tools": ["search"],
    "pii_entities": [],
    "body_bytes": 42,
}


def test_a_request_with_every_factory_field_passed() -> None:
    _same(LLMRequest, **REQUEST, key_id="mk_1", team="t", user=None)


def test_fields_not_passed_hold_their_defaults() -> None:
    built = _same(LLMRequest, **REQUEST)
    assert isinstance(built, LLMRequest)
    assert built.type == "llm.request.v1" and built.key_id is None
    assert built.model_fields_set == set(REQUEST)


def test_factories_run_for_fields_not_passed() -> None:
    values = {k: v for k, v in REQUEST.items() if k not in ("event_id", "time", "messages")}
    built = _same(LLMRequest, **values)
    assert isinstance(built, LLMRequest)
    assert built.messages == [] and built.event_id and built.time is not None
    again = Constructor(LLMRequest)(**values)
    assert again.messages is not built.messages  # a fresh list each time


def test_a_response_and_a_window() -> None:
    call = ToolCall(name="f", arguments="{}")
    _same(
        LLMResponse, event_id="e", time=REQUEST["time"], source="p", session_id="s",
        request_id="r", backend="b", provider="anthropic", path="/v1/messages",
        status_code=200, latency_ms=1.5, tool_calls=[call], text="ok",
    )  # fmt: skip
    _same(
        StreamWindow, event_id="e", time=REQUEST["time"], source="p", session_id="s",
        backend="b", provider="openai", window_index=0, offset_chars=0, text="t", tool_calls=[],
    )  # fmt: skip


def test_unknown_names_are_ignored_and_required_ones_may_be_missing() -> None:
    built = _same(LLMRequest, **{**REQUEST, "nonsense": 1}, source_extra="x")
    assert "nonsense" not in built.__dict__
    values = {k: v for k, v in REQUEST.items() if k != "backend"}
    assert "backend" not in _same(LLMRequest, **values).__dict__


class _Mutable(BaseModel):
    tags: list[str] = ["a"]  # a mutable default: model_construct deep-copies it
    name: str = "x"


def test_a_mutable_default_is_copied_like_model_construct_does() -> None:
    one, two = Constructor(_Mutable)(), Constructor(_Mutable)()
    assert one.tags == ["a"] and one.tags is not two.tags
    _same(_Mutable)


class _Aliased(BaseModel):
    value: int = Field(alias="v")


class _Data(BaseModel):
    a: int = 1
    b: int = Field(default_factory=lambda data: data["a"] + 1)


@pytest.mark.parametrize("cls", [_Aliased, _Data])
def test_models_it_cannot_build_like_model_construct_are_refused(cls: type[BaseModel]) -> None:
    with pytest.raises(TypeError, match="model_construct"):
        Constructor(cls)
