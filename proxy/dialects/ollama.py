"""Ollama's native API (`/api/chat`, `/api/generate`, `/api/embed`, ...).

Parts of a request: `system`, every message (`tool` messages are tool results,
assistant `tool_calls` are tool calls), `prompt`, `input` (embeddings) and the
descriptive text of tool definitions. Ollama streams NDJSON unless the body
says `"stream": false`.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.dialects.base import (
    Assembled,
    RequestFacts,
    StreamAcc,
    num,
    part,
    text_of,
    tool_definitions,
    user_text,
)
from schemas.events import ChatMessage, Provider, ToolCall

__all__ = ["DIALECT", "OllamaDialect", "ollama_tool_calls"]

_STREAMING = frozenset({"chat", "generate"})


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


class OllamaDialect:
    """Ollama's native REST API."""

    name: Provider = "ollama"

    def endpoint(self, path: str) -> str | None:
        if not path.startswith("/api/"):
            return None
        return path[5:].split("/", 1)[0] or "other"

    def parts(self, endpoint: str, body: object) -> list[ChatMessage]:
        if not isinstance(body, dict):
            return []
        out: list[ChatMessage] = []
        system = body.get("system")
        if isinstance(system, str) and system:
            out.append(part("system", "system", system))
        msgs = body.get("messages")
        if isinstance(msgs, list):
            for m in msgs:
                if not isinstance(m, dict):
                    continue
                role = str(m.get("role") or "user")
                text = text_of(m.get("content"))
                if role == "tool":
                    name = m.get("tool_name") or m.get("name")
                    out.append(
                        part(
                            "tool",
                            "tool_result",
                            text,
                            name=name if isinstance(name, str) else None,
                        )
                    )
                    continue
                out.append(part(role, "system" if role == "system" else "message", text))
                try:
                    calls = ollama_tool_calls(m)
                except (AttributeError, TypeError):
                    calls = []
                for c in calls:
                    out.append(part("assistant", "tool_call", c.arguments, name=c.name))
        for key in ("prompt", "input"):
            extra = user_text(body.get(key))
            if extra is not None:
                out.append(extra)
        _, tools = tool_definitions(body.get("tools"))
        out.extend(tools)
        return out

    def facts(self, endpoint: str, body: dict[str, Any]) -> RequestFacts:
        opt = body.get("options")
        options: dict[str, Any] = opt if isinstance(opt, dict) else {}
        model = body.get("model")
        temp = body.get("temperature", options.get("temperature"))
        stream = body.get("stream")
        if stream is None and endpoint in _STREAMING:
            stream = True  # Ollama streams unless told otherwise
        names, _ = tool_definitions(body.get("tools"))
        return RequestFacts(
            model=model if isinstance(model, str) else None,
            stream=stream is True,
            max_tokens=num(body.get("max_tokens")) or num(options.get("num_predict")),
            temperature=float(temp) if isinstance(temp, int | float) else None,
            tools=tuple(names),
        )

    def answer(self, data: dict[str, Any], out: Assembled) -> None:
        msg = data.get("message")
        if isinstance(msg, dict):
            out.text = text_of(msg.get("content"))
            out.tool_calls = ollama_tool_calls(msg)
        else:
            out.text = str(data.get("response") or "")
        out.finish_reason = data.get("done_reason")
        out.input_tokens = num(data.get("prompt_eval_count"))
        out.output_tokens = num(data.get("eval_count"))

    def stream_event(self, obj: dict[str, Any], acc: StreamAcc) -> None:
        r = acc.result
        if obj.get("error"):
            acc.error(obj["error"])
            return
        if r.model is None and isinstance(obj.get("model"), str):
            r.model = obj["model"]
        msg = obj.get("message")
        if isinstance(msg, dict):
            content = msg.get("content")
            if isinstance(content, str) and content:
                acc.parts.append(content)
            if msg.get("tool_calls"):
                acc.done_calls.extend(ollama_tool_calls(msg))
        elif isinstance(obj.get("response"), str) and obj["response"]:
            acc.parts.append(obj["response"])
        if obj.get("done"):
            r.finish_reason = obj.get("done_reason", r.finish_reason)
            r.input_tokens = obj.get("prompt_eval_count", r.input_tokens)
            r.output_tokens = obj.get("eval_count", r.output_tokens)

    def error_payload(self, error_type: str, message: str, extra: dict[str, str]) -> object:
        return {"error": message, "type": error_type, **extra}

    def stream_error(self, payload: bytes) -> bytes:
        return payload + b"\n"

    def credentials(self, api_key: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {api_key}"),)


DIALECT = OllamaDialect()
