"""OpenAI and OpenAI-compatible APIs: chat, completions, responses, embeddings, models.

Parts of a request, in body order: `instructions` (Responses), every message
(content parts joined, so a phrase split across parts is still seen whole), the
arguments of every earlier tool call, every tool result (`tool` / `function`
messages, Responses `function_call_output`), `prompt` / `input` texts and the
descriptive text of tool definitions.
"""

from __future__ import annotations

from typing import Any

from proxy.dialects.base import (
    Assembled,
    PendingCall,
    RequestFacts,
    StreamAcc,
    cached_of,
    num,
    part,
    str_or_none,
    strings_of,
    text_of,
    tool_definitions,
    user_text,
)
from schemas.events import ChatMessage, Provider, ToolCall

__all__ = ["DIALECT", "OpenAIDialect"]

_ENDPOINTS = (
    ("/v1/chat/completions", "chat"),
    ("/v1/completions", "completions"),
    ("/v1/embeddings", "embeddings"),
    ("/v1/responses", "responses"),
    ("/v1/models", "models"),
    ("/chat/completions", "chat"),
    ("/completions", "completions"),
    ("/embeddings", "embeddings"),
    ("/responses", "responses"),
)
_TOOL_ROLES = frozenset({"tool", "function"})


def _message(m: dict[str, Any], out: list[ChatMessage]) -> None:
    """A chat message or a Responses input item, as parts."""
    kind = m.get("type")
    if kind == "function_call_output":
        out.append(
            part(
                "tool",
                "tool_result",
                text_of(m.get("output")),
                call_id=str_or_none(m.get("call_id")),
            )
        )
        return
    if kind == "function_call":
        args = m.get("arguments")
        out.append(
            part(
                "assistant",
                "tool_call",
                args if isinstance(args, str) else text_of(args),
                name=str_or_none(m.get("name")),
                call_id=str_or_none(m.get("call_id")),
            )
        )
        return
    role = str(m.get("role") or kind or "user")
    content = m.get("content")
    if role in _TOOL_ROLES:
        out.append(
            part(
                "tool",
                "tool_result",
                text_of(content),
                name=str_or_none(m.get("name")),
                call_id=str_or_none(m.get("tool_call_id")),
            )
        )
        return
    if kind not in (None, "message") and content is None:
        # reasoning, web search calls, ...: whatever text they carry
        text = "\n".join(strings_of({k: v for k, v in m.items() if k not in ("type", "id")}))
        if text:
            out.append(part(role if role != kind else "assistant", "message", text))
        return
    out.append(
        part(
            role,
            "system" if role in ("system", "developer") else "message",
            text_of(content),
            name=str_or_none(m.get("name")),
            call_id=str_or_none(m.get("tool_call_id")),
        )
    )
    calls = m.get("tool_calls")
    if isinstance(calls, list):
        for tc in calls:
            if not isinstance(tc, dict):
                continue
            fn = tc.get("function")
            f: dict[str, Any] = fn if isinstance(fn, dict) else {}
            args = f.get("arguments")
            if args:
                out.append(
                    part(
                        "assistant",
                        "tool_call",
                        args if isinstance(args, str) else text_of(args),
                        name=str_or_none(f.get("name")),
                        call_id=str_or_none(tc.get("id")),
                    )
                )


class OpenAIDialect:
    """OpenAI's REST API and every server that speaks it."""

    name: Provider = "openai"

    def endpoint(self, path: str) -> str | None:
        for prefix, name in _ENDPOINTS:
            if path.startswith(prefix):
                return name
        return None

    def parts(self, endpoint: str, body: object) -> list[ChatMessage]:
        if not isinstance(body, dict):
            return []
        out: list[ChatMessage] = []
        instructions = body.get("instructions")
        if isinstance(instructions, str) and instructions:
            out.append(part("system", "system", instructions))
        msgs = body.get("messages")
        inp = body.get("input")
        if msgs is None and isinstance(inp, list) and any(isinstance(i, dict) for i in inp):
            msgs = inp  # Responses API input items
        if isinstance(msgs, list):
            for m in msgs:
                if isinstance(m, dict):
                    _message(m, out)
                elif isinstance(m, str):
                    out.append(part("user", "message", m))
        for key in ("prompt", "input"):
            val = body.get(key)
            text = user_text(val) if val is not msgs else None
            if text is not None:
                out.append(text)
        _, tools = tool_definitions(body.get("tools"))
        out.extend(tools)
        return out

    def facts(self, endpoint: str, body: dict[str, Any]) -> RequestFacts:
        model = body.get("model")
        temp = body.get("temperature")
        names, _ = tool_definitions(body.get("tools"))
        max_tokens = num(body.get("max_tokens")) or num(body.get("max_completion_tokens"))
        return RequestFacts(
            model=model if isinstance(model, str) else None,
            stream=body.get("stream") is True,
            max_tokens=max_tokens or num(body.get("max_output_tokens")),
            temperature=float(temp) if isinstance(temp, int | float) else None,
            tools=tuple(names),
        )

    def answer(self, data: dict[str, Any], out: Assembled) -> None:
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
            out.output_tokens = num(usage.get("completion_tokens")) or num(
                usage.get("output_tokens")
            )
            out.total_tokens = num(usage.get("total_tokens"))
            out.cached_input_tokens = cached_of(usage)

    def stream_event(self, obj: dict[str, Any], acc: StreamAcc) -> None:
        r = acc.result
        if obj.get("error"):
            acc.error(obj["error"])
            return
        kind = obj.get("type")
        if isinstance(kind, str) and kind.startswith("response."):
            _responses_event(kind, obj, acc)
            return
        if r.model is None and isinstance(obj.get("model"), str):
            r.model = obj["model"]
        for choice in obj.get("choices") or ():
            delta = choice.get("delta")
            if isinstance(delta, dict):
                content = delta.get("content")
                if isinstance(content, str) and content:
                    acc.parts.append(content)
                for tc in delta.get("tool_calls") or ():
                    call = acc.calls.get(tc.get("index", 0))
                    if call is None:
                        call = acc.calls[tc.get("index", 0)] = PendingCall()
                    if tc.get("id"):
                        call.id = tc["id"]
                    fn = tc.get("function") or {}
                    if fn.get("name"):
                        call.name += fn["name"]
                    if fn.get("arguments"):
                        call.args.append(fn["arguments"])
            elif isinstance(choice.get("text"), str) and choice["text"]:
                acc.parts.append(choice["text"])
            if choice.get("finish_reason"):
                r.finish_reason = choice["finish_reason"]
        usage = obj.get("usage")
        if isinstance(usage, dict):
            r.input_tokens = usage.get("prompt_tokens", r.input_tokens)
            r.output_tokens = usage.get("completion_tokens", r.output_tokens)
            r.total_tokens = usage.get("total_tokens", r.total_tokens)
            r.cached_input_tokens = cached_of(usage)

    def error_payload(self, error_type: str, message: str, extra: dict[str, str]) -> object:
        return {"error": {"message": message, "type": error_type, "code": error_type, **extra}}

    def stream_error(self, payload: bytes) -> bytes:
        return b"data: " + payload + b"\n\n"

    def credentials(self, api_key: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {api_key}"),)


def _responses_event(kind: str, obj: dict[str, Any], acc: StreamAcc) -> None:
    r = acc.result
    if kind == "response.output_text.delta" and isinstance(obj.get("delta"), str):
        acc.parts.append(obj["delta"])
    elif kind == "response.output_item.added":
        item = obj.get("item") or {}
        if item.get("type") == "function_call":
            acc.calls[obj.get("output_index", len(acc.calls))] = PendingCall(
                item.get("call_id"), str(item.get("name", ""))
            )
    elif kind == "response.function_call_arguments.delta":
        call = acc.calls.get(obj.get("output_index", 0))
        if call is not None and isinstance(obj.get("delta"), str):
            call.args.append(obj["delta"])
    elif kind in ("response.completed", "response.incomplete", "response.failed"):
        resp = obj.get("response") or {}
        r.model = resp.get("model", r.model)
        r.finish_reason = resp.get("status")
        usage = resp.get("usage")
        if isinstance(usage, dict):
            r.input_tokens = usage.get("input_tokens")
            r.output_tokens = usage.get("output_tokens")
            r.total_tokens = usage.get("total_tokens")
            r.cached_input_tokens = cached_of(usage)
        if resp.get("error"):
            acc.error(resp["error"])


DIALECT = OpenAIDialect()
