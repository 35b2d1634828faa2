"""Anthropic's Messages API (`/v1/messages`, `/v1/messages/count_tokens`).

Parts of a request: the `system` prompt, then every message with its blocks
split by who wrote them: text blocks keep the message's role, `tool_use`
inputs are the assistant's tool calls, `tool_result` contents are role `tool`
(what a tool returned is untrusted, whichever turn carries it); then the
descriptive text of tool definitions. A trailing assistant turn (a prefill) is
a part like any other.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.dialects.base import (
    Assembled,
    PendingCall,
    RequestFacts,
    StreamAcc,
    cached_of,
    num,
    part,
    str_or_none,
    text_of,
    tool_definitions,
)
from schemas.events import ChatMessage, Provider, ToolCall

__all__ = ["DIALECT", "AnthropicDialect"]


def _blocks(role: str, content: object, out: list[ChatMessage]) -> None:
    if not isinstance(content, list):
        out.append(part(role, "message", text_of(content)))
        return
    texts: list[str] = []
    start = len(out)
    for block in content:
        if isinstance(block, str):
            texts.append(block)
            continue
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "tool_use" or kind == "server_tool_use":
            out.append(
                part(
                    "assistant",
                    "tool_call",
                    orjson.dumps(block.get("input", {})).decode(),
                    name=str_or_none(block.get("name")),
                    call_id=str_or_none(block.get("id")),
                )
            )
        elif kind == "tool_result" or (isinstance(kind, str) and kind.endswith("_tool_result")):
            out.append(
                part(
                    "tool",
                    "tool_result",
                    text_of(block.get("content")),
                    call_id=str_or_none(block.get("tool_use_id")),
                )
            )
        elif kind == "document":
            source = block.get("source")
            src: dict[str, Any] = source if isinstance(source, dict) else {}
            data = src.get("data") if src.get("type") == "text" else src.get("content")
            text = text_of(data)
            if text:  # a retrieved document is third-party text, like a tool result
                out.append(part("tool", "tool_result", text, name=str_or_none(block.get("title"))))
        elif isinstance(block.get("text"), str):
            texts.append(block["text"])
    if texts or len(out) == start:
        out.append(part(role, "message", "\n".join(t for t in texts if t)))


class AnthropicDialect:
    """Anthropic's Messages API."""

    name: Provider = "anthropic"

    def endpoint(self, path: str) -> str | None:
        if path.startswith("/v1/messages/count_tokens"):
            return "count_tokens"
        if path.startswith("/v1/messages") or path == "/messages":
            return "messages"
        return None

    def parts(self, endpoint: str, body: object) -> list[ChatMessage]:
        if not isinstance(body, dict):
            return []
        out: list[ChatMessage] = []
        system = body.get("system")
        if system:
            out.append(part("system", "system", text_of(system)))
        msgs = body.get("messages")
        if isinstance(msgs, list):
            for m in msgs:
                if isinstance(m, dict):
                    _blocks(str(m.get("role") or "user"), m.get("content"), out)
        _, tools = tool_definitions(body.get("tools"))
        out.extend(tools)
        return out

    def facts(self, endpoint: str, body: dict[str, Any]) -> RequestFacts:
        model = body.get("model")
        temp = body.get("temperature")
        names, _ = tool_definitions(body.get("tools"))
        return RequestFacts(
            model=model if isinstance(model, str) else None,
            stream=body.get("stream") is True,
            max_tokens=num(body.get("max_tokens")),
            temperature=float(temp) if isinstance(temp, int | float) else None,
            tools=tuple(names),
        )

    def answer(self, data: dict[str, Any], out: Assembled) -> None:
        texts: list[str] = []
        for block in data.get("content") or []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text":
                texts.append(str(block.get("text", "")))
            elif block.get("type") == "tool_use":
                out.tool_calls.append(
                    ToolCall.model_construct(
                        id=block.get("id"),
                        name=str(block.get("name", "")),
                        arguments=orjson.dumps(block.get("input", {})).decode(),
                    )
                )
        out.text = "".join(texts)
        out.finish_reason = data.get("stop_reason")
        usage = data.get("usage")
        if isinstance(usage, dict):
            out.input_tokens = num(usage.get("input_tokens"))
            out.output_tokens = num(usage.get("output_tokens"))
            out.cached_input_tokens = cached_of(usage)

    def stream_event(self, obj: dict[str, Any], acc: StreamAcc) -> None:
        r = acc.result
        kind = obj.get("type")
        if kind == "content_block_delta":
            delta = obj.get("delta") or {}
            if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
                acc.parts.append(delta["text"])
            elif delta.get("type") == "input_json_delta":
                call = acc.calls.get(obj.get("index", 0))
                if call is not None:
                    call.args.append(str(delta.get("partial_json", "")))
        elif kind == "content_block_start":
            block = obj.get("content_block") or {}
            if block.get("type") == "tool_use":
                acc.calls[obj.get("index", 0)] = PendingCall(
                    block.get("id"), str(block.get("name", ""))
                )
            elif block.get("type") == "text" and block.get("text"):
                acc.parts.append(str(block["text"]))
        elif kind == "message_start":
            msg = obj.get("message") or {}
            r.model = msg.get("model", r.model)
            usage = msg.get("usage") or {}
            r.input_tokens = usage.get("input_tokens", r.input_tokens)
            r.output_tokens = usage.get("output_tokens", r.output_tokens)
            r.cached_input_tokens = cached_of(usage)
        elif kind == "message_delta":
            delta = obj.get("delta") or {}
            r.finish_reason = delta.get("stop_reason", r.finish_reason)
            usage = obj.get("usage") or {}
            r.output_tokens = usage.get("output_tokens", r.output_tokens)
            if usage.get("input_tokens") is not None:
                r.input_tokens = usage["input_tokens"]
        elif kind == "error":
            acc.error(obj.get("error"))

    def error_payload(self, error_type: str, message: str, extra: dict[str, str]) -> object:
        return {"type": "error", "error": {"type": error_type, "message": message, **extra}}

    def stream_error(self, payload: bytes) -> bytes:
        return b"event: error\ndata: " + payload + b"\n\n"

    def credentials(self, api_key: str) -> tuple[tuple[str, str], ...]:
        return (("x-api-key", api_key),)


DIALECT = AnthropicDialect()
