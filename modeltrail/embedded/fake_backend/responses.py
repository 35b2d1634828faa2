"""OpenAI Responses API: `POST /v1/responses`, stream and not, text or a function call."""

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
)
from modeltrail.embedded.fake_backend.core import Call, begin, json_response
from modeltrail.embedded.fake_backend.openai import openai_error
from modeltrail.embedded.fake_backend.streaming import FrameStream, sse

__all__ = ["responses"]


def _input_of(body: dict[str, Any]) -> tuple[list[str], str]:
    """Texts of the instructions and input items, and the last user text."""
    instructions = body.get("instructions")
    preface = [instructions] if isinstance(instructions, str) else []
    items = body.get("input")
    if isinstance(items, str):
        return [*preface, items], items
    return conversation(items, preface)


async def responses(request: Request) -> Response:
    """`POST /v1/responses`: one output item, `response.*` SSE events when streaming."""
    call = await begin(request, openai_error)
    if not isinstance(call, Call):
        return call
    texts, last_user = _input_of(call.body)
    input_tokens = count_words(texts)
    tool, reply, output_tokens = answer_for(
        call.behaviour,
        last_user,
        tools=bool(call.body.get("tools")),
        provider="openai",
        model=call.model,
        prompt_words=input_tokens,
    )
    item_id = call.backend.next_id("fc_" if tool else "msg_")
    if tool:
        item: dict[str, Any] = {
            "type": "function_call",
            "id": item_id,
            "call_id": call.backend.next_id("call_"),
            "name": tool.name,
            "arguments": tool.arguments,
            "status": "completed",
        }
    else:
        part = {"type": "output_text", "text": reply, "annotations": []}
        item = {
            "type": "message",
            "id": item_id,
            "status": "completed",
            "role": "assistant",
            "content": [part],
        }
    response: dict[str, Any] = {
        "id": call.backend.next_id("resp_"),
        "object": "response",
        "created_at": call.created,
        "status": "completed",
        "model": call.model,
        "output": [item],
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
    }
    if not call.body.get("stream"):
        return json_response(response)

    sequence = 0

    def event(kind: str, **fields: Any) -> bytes:
        nonlocal sequence
        sequence += 1
        return sse({"type": kind, "sequence_number": sequence, **fields}, event=kind)

    pending = {**response, "status": "in_progress", "output": [], "usage": None}
    frames = [event("response.created", response=pending)]
    where = {"item_id": item_id, "output_index": 0}
    if tool:
        frames.append(
            event(
                "response.output_item.added",
                output_index=0,
                item={**item, "arguments": "", "status": "in_progress"},
            )
        )
        frames += [
            event("response.function_call_arguments.delta", **where, delta=piece)
            for piece in split_chars(tool.arguments, call.behaviour.chunks)
        ]
        frames.append(
            event("response.function_call_arguments.done", **where, arguments=tool.arguments)
        )
    else:
        empty = {"type": "output_text", "text": "", "annotations": []}
        frames.append(
            event(
                "response.output_item.added",
                output_index=0,
                item={**item, "status": "in_progress", "content": []},
            )
        )
        frames.append(event("response.content_part.added", **where, content_index=0, part=empty))
        frames += [
            event("response.output_text.delta", **where, content_index=0, delta=piece)
            for piece in split_reply(reply, call.behaviour)
        ]
        frames.append(event("response.output_text.done", **where, content_index=0, text=reply))
        frames.append(
            event("response.content_part.done", **where, content_index=0, part=item["content"][0])
        )
    frames.append(event("response.output_item.done", output_index=0, item=item))
    frames.append(event("response.completed", response=response))
    return FrameStream(frames, call.behaviour)
