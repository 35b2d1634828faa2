"""The dialect contract: what every provider module implements, and the shared pieces.

A dialect is one provider API family (OpenAI, Anthropic, Ollama, ...). It is
pure: no I/O, no clock. Given a canonical path and a parsed body it says which
endpoint is called (`endpoint`), every text the request carries, tagged with who
wrote it (`parts`), the request's metadata (`facts`); it reads answers (`answer`)
and stream events (`stream_event`), and shapes errors the provider's clients
parse (`error_payload`, `stream_error`).

Parts are `ChatMessage`s, the same objects the request event carries, so the
inline check, the captured event, the streams worker and `modeltrail policy eval`
judge exactly the same texts. Roles are normalised across providers:

    role        who wrote the text
    system      the operator (system prompt, instructions)
    user        the client's user
    assistant   the model (earlier turns, tool-call arguments it produced)
    tool        anything a tool or a third party produced: tool results (OpenAI
                `tool` messages, Anthropic `tool_result`, Responses
                `function_call_output`) and tool definitions (descriptions an MCP
                server may have written)

and `kind` says what the part is (`PartKind`). Unreadable shapes give fewer
parts, never an exception: auditing must not fail a request the backend accepts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import orjson

from schemas.events import ChatMessage, PartKind, Provider, ToolCall

__all__ = [
    "Assembled",
    "Dialect",
    "PendingCall",
    "RequestFacts",
    "StreamAcc",
    "cached_of",
    "num",
    "part",
    "str_or_none",
    "strings_of",
    "text_of",
    "tool_definitions",
    "user_text",
]

#: Depth and item bounds of `strings_of`: a hostile body cannot make the walk deep or long.
_MAX_DEPTH = 32
_MAX_ITEMS = 100_000


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


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """A request's metadata as its dialect spells it."""

    model: str | None = None
    stream: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    tools: tuple[str, ...] = ()


class PendingCall:
    """A tool call being assembled from stream deltas."""

    __slots__ = ("args", "id", "name")

    def __init__(self, id: str | None = None, name: str = "") -> None:
        self.id = id
        self.name = name
        self.args: list[str] = []


class StreamAcc:
    """What a stream assembled so far; dialects' `stream_event` fill it."""

    __slots__ = ("calls", "done_calls", "parts", "result")

    def __init__(self) -> None:
        self.result = Assembled()
        self.parts: list[str] = []
        self.calls: dict[int, PendingCall] = {}
        self.done_calls: list[ToolCall] = []

    def error(self, err: Any) -> None:
        """Record an error object (or string) the stream carried."""
        read_error(err, self.result)


def read_error(err: Any, out: Assembled) -> None:
    """Fill `out.error_type` / `error_message` from an error object or string."""
    if isinstance(err, dict):
        out.error_type = str(err.get("type") or err.get("code") or "error")
        out.error_message = str(err.get("message", ""))[:1000]
    else:
        out.error_type, out.error_message = "error", str(err)[:1000]


@runtime_checkable
class Dialect(Protocol):
    """One provider API family. Implementations are stateless and pure."""

    #: the `provider` of the events this dialect's traffic produces
    name: Provider

    def endpoint(self, path: str) -> str | None:
        """The endpoint a canonical path calls (`chat`, `messages`, ...), or None: not ours."""
        ...

    def parts(self, endpoint: str, body: object) -> list[ChatMessage]:
        """Every text of a parsed request body, in order, each tagged with role and kind."""
        ...

    def facts(self, endpoint: str, body: dict[str, Any]) -> RequestFacts:
        """Model, stream flag, limits and tool names of a parsed request body."""
        ...

    def answer(self, data: dict[str, Any], out: Assembled) -> None:
        """Read a non-streamed answer (a JSON object without `error`) into `out`."""
        ...

    def stream_event(self, obj: dict[str, Any], acc: StreamAcc) -> None:
        """Apply one decoded stream event (an SSE `data:` object or an NDJSON line)."""
        ...

    def error_payload(self, error_type: str, message: str, extra: dict[str, str]) -> object:
        """An error in this provider's own JSON shape."""
        ...

    def stream_error(self, payload: bytes) -> bytes:
        """A final stream event carrying an encoded `error_payload`."""
        ...

    def credentials(self, api_key: str) -> tuple[tuple[str, str], ...]:
        """Upstream headers carrying an injected API key (lower-case names)."""
        ...


def part(
    role: str,
    kind: PartKind,
    content: str,
    *,
    name: str | None = None,
    call_id: str | None = None,
) -> ChatMessage:
    """One extracted text (no validation: the caller built it from checked types)."""
    return ChatMessage.model_construct(
        role=role, content=content, name=name, tool_call_id=call_id, kind=kind
    )


def str_or_none(value: object) -> str | None:
    """A string field, or None."""
    return value if isinstance(value, str) else None


def user_text(value: object) -> ChatMessage | None:
    """A `prompt` / `input` value (a string or a list of strings) as one user part."""
    if isinstance(value, list):
        value = "\n".join(v for v in value if isinstance(v, str))
    return part("user", "message", value) if isinstance(value, str) and value else None


def text_of(content: Any) -> str:
    """Flatten a message content (str, list of parts/blocks) to text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for p in content:
            if isinstance(p, str):
                parts.append(p)
            elif isinstance(p, dict):
                kind = p.get("type")
                if "text" in p and isinstance(p["text"], str):
                    parts.append(p["text"])
                elif kind == "tool_use":
                    parts.append(orjson.dumps(p.get("input", {})).decode())
                elif kind == "tool_result":
                    parts.append(text_of(p.get("content")))
        return "\n".join(p for p in parts if p)
    if isinstance(content, dict):
        return text_of([content])
    return str(content)


def num(value: Any) -> int | None:
    """An int field, or None (bools are not numbers here)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def cached_of(usage: dict[str, Any]) -> int | None:
    """Prompt-cache hits of a usage block: OpenAI chat, Responses API or Anthropic."""
    for details in ("prompt_tokens_details", "input_tokens_details"):
        d = usage.get(details)
        if isinstance(d, dict) and num(d.get("cached_tokens")) is not None:
            return num(d.get("cached_tokens"))
    return num(usage.get("cache_read_input_tokens"))


def strings_of(value: object, skip: Callable[[str], bool] | None = None) -> list[str]:
    """Every string value inside a JSON value, depth-first, keys left out.

    `skip(key)` drops a string value under that key (e.g. JSON-schema `type` words);
    objects and lists under it are still walked (a property may be called `name`).
    Bounded in depth and items, so a hostile body cannot make it deep or long.
    """
    out: list[str] = []
    stack: list[tuple[object, int]] = [(value, 0)]
    seen = 0
    while stack and seen < _MAX_ITEMS:
        item, depth = stack.pop()
        seen += 1
        if isinstance(item, str):
            if item:
                out.append(item)
        elif depth >= _MAX_DEPTH:
            continue
        elif isinstance(item, dict):
            for k, v in reversed(list(item.items())):
                if skip is None or not isinstance(v, str) or not skip(k):
                    stack.append((v, depth + 1))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in reversed(item))
    return out


def _schema_word(key: str) -> bool:
    return key in ("type", "name", "required", "format", "$schema", "$ref")


def tool_definitions(tools: object) -> tuple[list[str], list[ChatMessage]]:
    """Tool names, and one `tool_definition` part per tool that carries descriptive text.

    The text is every string of the definition except schema keywords and the
    name (the names travel in the event's `tools`): descriptions, parameter
    docs, enum values, where a poisoned tool hides its instructions.
    """
    names: list[str] = []
    parts: list[ChatMessage] = []
    if not isinstance(tools, list):
        return names, parts
    for t in tools:
        if not isinstance(t, dict):
            continue
        fn = t.get("function")
        spec: dict[str, Any] = fn if isinstance(fn, dict) else t
        name = spec.get("name")
        name = name if isinstance(name, str) else None
        if name is not None:
            names.append(name)
        text = "\n".join(strings_of(t, _schema_word))
        if text:
            parts.append(part("tool", "tool_definition", text, name=name))
    return names, parts
