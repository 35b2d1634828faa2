"""Pure construction of request and response events from bodies, per provider.

No I/O and no clock reads beyond the event defaults. The capture policy
decides what text enters an event: `all` and `flagged_only` keep message text
(`flagged_only` is decided downstream, so the proxy captures what it may need),
`metadata_only` keeps none. Captured text is capped at `max_bytes` characters
per body; `truncated` says so. Raw API keys never reach an event: callers pass
the salted fingerprint only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from schemas.events import (
    ChatMessage,
    LLMRequest,
    LLMResponse,
    Outcome,
    Provider,
    ToolCall,
    utcnow,
)
from schemas.ids import uuid7

__all__ = [
    "Assembled",
    "CapturePolicy",
    "build_request",
    "build_response",
    "parse_response_body",
]

CapturePolicy = Literal["all", "flagged_only", "metadata_only"]


@dataclass(slots=True)
class Assembled:
    """What a response said: text, tool calls, usage, finish reason."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    finish_reason: str | None = None
    model: str | None = None
    error_type: str | None = None
    error_message: str | None = None


def _text_of(content: Any) -> str:
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
                    parts.append(_text_of(part.get("content")))
        return "\n".join(p for p in parts if p)
    if isinstance(content, dict):
        return _text_of([content])
    return str(content)


def _messages(provider: Provider, body: dict[str, Any]) -> list[ChatMessage]:
    out: list[ChatMessage] = []
    if provider == "anthropic" and body.get("system"):
        out.append(ChatMessage.model_construct(role="system", content=_text_of(body["system"])))
    if isinstance(body.get("instructions"), str):  # OpenAI Responses API
        out.append(ChatMessage.model_construct(role="system", content=body["instructions"]))
    if isinstance(body.get("system"), str) and provider == "ollama":
        out.append(ChatMessage.model_construct(role="system", content=body["system"]))
    msgs = body.get("messages")
    inp = body.get("input")
    if msgs is None and isinstance(inp, list) and inp and isinstance(inp[0], dict):
        msgs = inp  # Responses API input items
    if isinstance(msgs, list):
        for m in msgs:
            if not isinstance(m, dict):
                continue
            content = m.get("content")
            if content is None and m.get("type") == "function_call_output":
                content = m.get("output")
            out.append(
                ChatMessage.model_construct(
                    role=str(m.get("role") or m.get("type") or "user"),
                    content=_text_of(content),
                    name=m.get("name") if isinstance(m.get("name"), str) else None,
                    tool_call_id=m.get("tool_call_id") or m.get("call_id"),
                )
            )
    for key in ("prompt", "input"):
        val = body.get(key)
        if isinstance(val, str):
            out.append(ChatMessage.model_construct(role="user", content=val))
        elif isinstance(val, list) and key == "prompt":
            out.append(ChatMessage.model_construct(role="user", content=_text_of(val)))
        elif isinstance(val, list) and msgs is None and val and isinstance(val[0], str):
            out.append(ChatMessage.model_construct(role="user", content="\n".join(val)))
    return out


def _tool_names(body: dict[str, Any]) -> list[str]:
    tools = body.get("tools")
    if not isinstance(tools, list):
        return []
    names: list[str] = []
    for t in tools:
        if isinstance(t, dict):
            fn = t.get("function")
            name = fn.get("name") if isinstance(fn, dict) else t.get("name")
            if isinstance(name, str):
                names.append(name)
    return names


def _cap(messages: list[ChatMessage], max_chars: int) -> tuple[list[ChatMessage], bool]:
    total = 0
    for i, m in enumerate(messages):
        total += len(m.content)
        if total > max_chars:
            keep = max(0, len(m.content) - (total - max_chars))
            cut = ChatMessage.model_construct(
                role=m.role, content=m.content[:keep], name=m.name, tool_call_id=m.tool_call_id
            )
            return [*messages[:i], cut], True
    return messages, False


def _num(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def build_request(
    *,
    source: str,
    session_id: str,
    request_id: str,
    backend: str,
    provider: Provider,
    method: str,
    path: str,
    body: Any,
    body_bytes: int,
    client_ip: str | None,
    user_agent: str | None,
    key_fp: str | None,
    policy: CapturePolicy,
    max_chars: int,
) -> LLMRequest:
    """The request event (its `event_id` is the request id); `body` is the parsed JSON."""
    d = body if isinstance(body, dict) else {}
    messages: list[ChatMessage] = []
    truncated = False
    captured = policy != "metadata_only"
    if captured and d:
        messages, truncated = _cap(_messages(provider, d), max_chars)
    opt = d.get("options")
    options: dict[str, Any] = opt if isinstance(opt, dict) else {}
    max_tokens = _num(d.get("max_tokens")) or _num(d.get("max_completion_tokens"))
    max_tokens = max_tokens or _num(d.get("max_output_tokens")) or _num(options.get("num_predict"))
    temp = d.get("temperature", options.get("temperature"))
    model = d.get("model")
    stream = d.get("stream")
    if provider == "ollama" and stream is None and path in ("/api/chat", "/api/generate"):
        stream = True  # Ollama streams unless told otherwise
    # Every field with a default factory is passed: model_construct would
    # otherwise inspect each factory's signature on every call.
    return LLMRequest.model_construct(
        event_id=request_id,
        time=utcnow(),
        source=source,
        session_id=session_id,
        request_id=request_id,
        backend=backend,
        provider=provider,
        method=method,
        path=path,
        model=model if isinstance(model, str) else None,
        stream=stream is True,
        client_ip=client_ip,
        user_agent=user_agent,
        api_key_fingerprint=key_fp,
        messages=messages,
        tools=_tool_names(d),
        max_tokens=max_tokens,
        temperature=float(temp) if isinstance(temp, int | float) else None,
        body_bytes=body_bytes,
        captured=captured,
        truncated=truncated,
    )


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
    if provider == "anthropic":
        _anthropic(data, out)
    elif provider == "ollama":
        _ollama(data, out)
    else:
        _openai(data, out)
    return out


def _openai(data: dict[str, Any], out: Assembled) -> None:
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        c = choices[0]
        m = c.get("message")
        msg: dict[str, Any] = m if isinstance(m, dict) else {}
        out.text = _text_of(msg.get("content")) if msg else str(c.get("text") or "")
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
                texts.append(_text_of(item.get("content")))
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
        out.input_tokens = _num(usage.get("prompt_tokens")) or _num(usage.get("input_tokens"))
        out.output_tokens = _num(usage.get("completion_tokens")) or _num(usage.get("output_tokens"))
        out.total_tokens = _num(usage.get("total_tokens"))


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
        out.input_tokens = _num(usage.get("input_tokens"))
        out.output_tokens = _num(usage.get("output_tokens"))


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
        out.text = _text_of(msg.get("content"))
        out.tool_calls = ollama_tool_calls(msg)
    else:
        out.text = str(data.get("response") or "")
    out.finish_reason = data.get("done_reason")
    out.input_tokens = _num(data.get("prompt_eval_count"))
    out.output_tokens = _num(data.get("eval_count"))


def build_response(
    *,
    source: str,
    session_id: str,
    request_id: str,
    backend: str,
    provider: Provider,
    path: str,
    model: str | None,
    stream: bool,
    status_code: int,
    outcome: Outcome,
    ttfb_ms: float | None,
    latency_ms: float,
    result: Assembled | None,
    body_bytes: int,
    policy: CapturePolicy,
    max_chars: int,
    error_type: str | None = None,
    error_message: str | None = None,
) -> LLMResponse:
    """The response event; `result` is what the parsers assembled (None when nothing)."""
    r = result or Assembled()
    captured = policy != "metadata_only"
    text: str | None = None
    truncated = False
    if captured and (r.text or stream or status_code < 400):
        text = r.text
        if len(text) > max_chars:
            text, truncated = text[:max_chars], True
    total = r.total_tokens
    if total is None and r.input_tokens is not None and r.output_tokens is not None:
        total = r.input_tokens + r.output_tokens
    return LLMResponse.model_construct(
        event_id=uuid7(),
        time=utcnow(),
        source=source,
        session_id=session_id,
        request_id=request_id,
        backend=backend,
        provider=provider,
        path=path,
        model=r.model or model,
        stream=stream,
        status_code=status_code,
        outcome=outcome,
        ttfb_ms=ttfb_ms,
        latency_ms=latency_ms,
        input_tokens=r.input_tokens,
        output_tokens=r.output_tokens,
        total_tokens=total,
        text=text,
        tool_calls=r.tool_calls if captured else [],
        finish_reason=r.finish_reason,
        error_type=error_type or r.error_type,
        error_message=error_message or r.error_message,
        body_bytes=body_bytes,
        captured=captured,
        truncated=truncated,
    )
