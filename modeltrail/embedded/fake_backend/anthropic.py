"""Anthropic-compatible endpoint: `POST /v1/messages`, stream and not, text or tool_use."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modeltrail.embedded.fake_backend.behaviour import (
    answer_for,
    conversation,
    count_words,
    split_chars,
    split_reply,
    text_of,
)
from modeltrail.embedded.fake_backend.core import Call, begin, json_response
from modeltrail.embedded.fake_backend.streaming import FrameStream, sse

__all__ = ["anthropic_error", "messages"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_BROKEN = (
    b'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": {"text": "\n\n'
)


def anthropic_error(status: int, message: str) -> Response:
    """An error in Anthropic's shape: `{"type": "error", "error": {"type", "message"}}`."""
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    headers = {"retry-after": "1"} if status in (429, 529) else None
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return json_response(body, status, headers)


async def messages(request: Request) -> Response:
    """`POST /v1/messages`, with the real SSE event sequence when `stream` is true."""
    call = await begin(request, anthropic_error)
    if not isinstance(call, Call):
        return call
    system = text_of(call.body.get("system"))
    texts, last_user = conversation(call.body.get("messages"), preface=[system])
    input_tokens = count_words(texts)
    tool, reply, output_tokens = answer_for(
        call.behaviour,
        last_user,
        tools=bool(call.body.get("tools")),
        provider="anthropic",
        model=call.model,
        prompt_words=input_tokens,
    )
    stop_reason = "tool_use" if tool else "end_turn"
    block: dict[str, Any]
    if tool:
        block = {
            "type": "tool_use",
            "id": call.backend.next_id("toolu_"),
            "name": tool.name,
            "input": tool.input,
        }
    else:
        block = {"type": "text", "text": reply}
    message: dict[str, Any] = {
        "id": call.backend.next_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": call.model,
        "content": [block],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }
    if not call.body.get("stream"):
        return json_response(message)

    def event(kind: str, **fields: Any) -> bytes:
        return sse({"type": kind, **fields}, event=kind)

    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1},
    }
    frames = [event("message_start", message=start)]
    if tool:
        frames.append(event("content_block_start", index=0, content_block={**block, "input": {}}))
        frames.append(event("ping"))
        frames += [
            event(
                "content_block_delta",
                index=0,
                delta={"type": "input_json_delta", "partial_json": piece},
            )
            for piece in split_chars(tool.arguments, call.behaviour.chunks)
        ]
    else:
        frames.append(
            event("content_block_start", index=0, content_block={"type": "text", "text": ""})
        )
        frames.append(event("ping"))
        frames += [
            event("content_block_delta", index=0, delta={"type": "text_delta", "text": piece})
            for piece in split_reply(reply, call.behaviour)
        ]
    frames.append(event("content_block_stop", index=0))
    frames.append(
        event(
            "message_delta",
            delta={"stop_reason": stop_reason, "stop_sequence": None},
            usage={"output_tokens": output_tokens},
        )
    )
    frames.append(event("message_stop"))
    return FrameStream(frames, call.behaviour, broken=_BROKEN)
