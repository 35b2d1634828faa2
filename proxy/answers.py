"""Pure parsing of non-streamed answers: text, tool calls, usage, finish reason.

Shared with the stream parsers (`proxy.sse`), which fill the same `Assembled`.
Unreadable bodies give an empty result, never an exception: auditing must not
fail a relay that already succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from schemas.events import Provider, ToolCall

__all__ = ["Assembled", "cached_of", "num", "ollama_tool_calls", "parse_response_body", "text_of"]


@dataclass(slots=True)
class Assembled:
    """What a response said: text, tool calls, usage, finish reason."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cached_input_tokens: int | None = None
    finish_reason: str | None = None
    model: str | None = None
    error_type: str | None = None
    error_message: str | None = None


def text_of(content: Any) -> str:
    """Flatten a message content (str, list of parts/blocks) to text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                kind = part.get("type")
                if "text" in part and isinstance(part["text"], str):
                    parts.append(part["text"])
                elif kind == "tool_use":
                    parts.append(orjson.dumps(part.get("input", {})).decode())
                elif kind == "tool_result":
                    parts.append(text_of(part.get("content")))
        return "\n".join(p for p in parts if p)
    if isinstance(content, dict):
        return text_of([content])
    return str(content)


def num(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def cached_of(usage: dict[str, Any]) -> int | None:
    """Prompt-cache hits of a usage block: OpenAI chat, Responses API or Anthropic."""
    for details in ("prompt_tokens_details", "input_tokens_details"):
        d = usage.get(details)
        if isinstance(d, dict) and num(d.get("cached_tokens")) is not None:
            return num(d.get("cached_tokens"))
    return num(usage.get("cache_read_input_tokens"))


def parse_response_body(provider: Provider, path: str, raw: bytes) -> Assembled:
    """Read text, tool calls, usage and finish reason out of a non-streamed answer."""
    out = Assembled()
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return out
    if not isinstance(data, dict):
        return out
    model = data.get("model")
    out.model = model if isinstance(model, str) else None
    err = data.get("error")
    if err is not None:
        if isinstance(err, dict):
            out.error_type = str(err.get("type") or err.get("code") or "error")
            out.error_message = str(err.get("message", ""))[:1000]
        else:
            out.error_type, out.error_message = "error", str(err)[:1000]
        return out
    try:
        if provider == "anthropic":
            _anthropic(data, out)
        elif provider == "ollama":
            _ollama(data, out)
        else:
            _openai(data, out)
    except (AttributeError, TypeError, ValueError, KeyError):
        pass  # an unexpected shape: keep what was read, never fail the relay
    return out


def _openai(data: dict[str, Any], out: Assembled) -> None:
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        c = choices[0]
        m = c.get("message")
        msg: dict[str, Any] = m if isinstance(m, dict) else {}
        out.text = text_of(msg.get("content")) if msg else str(c.get("text") or "")
        for tc in msg.get("tool_calls") or []:
            fn = tc.get("function") or {}
            out.tool_calls.append(
                ToolCall.model_construct(
                    id=tc.get("id"),
                    name=str(fn.get("name", "")),
                    arguments=fn.get("arguments") or "",
                )
            )
        out.finish_reason = c.get("finish_reason")
    elif isinstance(data.get("output"), list):  # Responses API
        texts: list[str] = []
        for item in data["output"]:
            if not isinstance(item, dict):
                continue
            if item.get("type") == "message":
                texts.append(text_of(item.get("content")))
            elif item.get("type") == "function_call":
                out.tool_calls.append(
                    ToolCall.model_construct(
                        id=item.get("call_id"),
                        name=str(item.get("name", "")),
                        arguments=str(item.get("arguments", "")),
                    )
                )
        out.text = "".join(texts)
        out.finish_reason = data.get("status")
    usage = data.get("usage")
    if isinstance(usage, dict):
        out.input_tokens = num(usage.get("prompt_tokens")) or num(usage.get("input_tokens"))
        out.output_tokens = num(usage.get("completion_tokens")) or num(usage.get("output_tokens"))
        out.total_tokens = num(usage.get("total_tokens"))
        out.cached_input_tokens = cached_of(usage)


def _anthropic(data: dict[str, Any], out: Assembled) -> None:
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


def ollama_tool_calls(msg: dict[str, Any]) -> list[ToolCall]:
    """Tool calls of one Ollama message (arguments arrive as an object)."""
    calls: list[ToolCall] = []
    for tc in msg.get("tool_calls") or []:
        fn = tc.get("function") or {}
        args = fn.get("arguments", {})
        calls.append(
            ToolCall.model_construct(
                id=tc.get("id"),
                name=str(fn.get("name", "")),
                arguments=args if isinstance(args, str) else orjson.dumps(args).decode(),
            )
        )
    return calls


def _ollama(data: dict[str, Any], out: Assembled) -> None:
    msg = data.get("message")
    if isinstance(msg, dict):
        out.text = text_of(msg.get("content"))
        out.tool_calls = ollama_tool_calls(msg)
    else:
        out.text = str(data.get("response") or "")
    out.finish_reason = data.get("done_reason")
    out.input_tokens = num(data.get("prompt_eval_count"))
    out.output_tokens = num(data.get("eval_count"))
