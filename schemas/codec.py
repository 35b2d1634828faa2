"""Fast JSON encoding of events for Kafka values and keys.

pydantic-core serialises and validates in Rust, which beats json/orjson
round-trips through dicts for these models.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import TypeAdapter, ValidationError

from schemas.errors import DecodeError
from schemas.events import Event, EventEnvelope

__all__ = ["decode", "decode_as", "encode", "encode_key"]

_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
E = TypeVar("E", bound=EventEnvelope)


def encode(event: EventEnvelope) -> bytes:
    """Serialise an event to compact JSON bytes (the Kafka value)."""
    return event.__pydantic_serializer__.to_json(event, exclude_none=False)


def encode_key(event: EventEnvelope) -> bytes:
    """The Kafka key: the session id, so one session stays on one partition."""
    return event.session_id.encode()


def decode(value: bytes | str) -> Event:
    """Decode any known event from JSON.

    Raises:
        DecodeError: not JSON, an unknown `type`, or fields that do not validate.
    """
    try:
        return _ADAPTER.validate_json(value)
    except ValidationError as exc:
        raise DecodeError(_summary(exc)) from exc


def decode_as(model: type[E], value: bytes | str) -> E:
    """Decode JSON into one given event model; raises DecodeError."""
    try:
        return model.model_validate_json(value)
    except ValidationError as exc:
        raise DecodeError(_summary(exc)) from exc


def _summary(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in errors[:5]]
    return "; ".join(parts)
