"""Traffic on no known API path: the body judged as a whole (`passthrough: inspect`).

A JSON body gives one part holding every string value in it (keys left out),
so JSON escapes cannot hide a phrase; a text body gives itself. Nothing is read
from answers: their shape is unknown. Errors take the OpenAI shape unless the
caller knows the backend's own.
"""

from __future__ import annotations

from typing import Any

from proxy.dialects.base import Assembled, RequestFacts, StreamAcc, part, strings_of
from proxy.dialects.openai import DIALECT as OPENAI
from schemas.events import ChatMessage, Provider

__all__ = ["DIALECT", "PassthroughDialect"]


class PassthroughDialect:
    """The fallback dialect of paths no provider module claims."""

    name: Provider = "passthrough"

    def endpoint(self, path: str) -> str | None:
        return None  # never claims a path: it is what is left

    def parts(self, endpoint: str, body: object) -> list[ChatMessage]:
        text = body if isinstance(body, str) else "\n".join(strings_of(body))
        return [part("user", "body", text)] if text else []

    def facts(self, endpoint: str, body: dict[str, Any]) -> RequestFacts:
        model = body.get("model")
        return RequestFacts(model=model if isinstance(model, str) else None)

    def answer(self, data: dict[str, Any], out: Assembled) -> None:
        return None

    def stream_event(self, obj: dict[str, Any], acc: StreamAcc) -> None:
        return None

    def error_payload(self, error_type: str, message: str, extra: dict[str, str]) -> object:
        return OPENAI.error_payload(error_type, message, extra)

    def stream_error(self, payload: bytes) -> bytes:
        return OPENAI.stream_error(payload)

    def credentials(self, api_key: str) -> tuple[tuple[str, str], ...]:
        return OPENAI.credentials(api_key)


DIALECT = PassthroughDialect()
