"""What a request asks the fake to do, and the deterministic text it answers with.

Everything here is pure: header parsing, the reply text, word-count usage, chunking and the
`fake-tool:` / `fake-reply:` markers a client can put in its last user message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "DEFAULT_CHUNKS",
    "Answer",
    "Behaviour",
    "BehaviourError",
    "ToolCall",
    "answer_for",
    "conversation",
    "count_words",
    "default_reply",
    "find_tool_call",
    "parse_behaviour",
    "reply_for",
    "split_chars",
    "split_reply",
    "split_words",
    "text_of",
]

DEFAULT_CHUNKS = 8
REPLY_MARKER = "fake-reply:"
_TOOL_MARKER = re.compile(r"fake-tool:([A-Za-z0-9_.\-]+)")
_WORD = re.compile(r"\s*\S+")


class BehaviourError(ValueError):
    """A `X-Fake-*` header has a value the fake cannot use."""


@dataclass(frozen=True, slots=True)
class Behaviour:
    """Injected behaviour for one request, read from its `X-Fake-*` headers."""

    reply: str | None = None
    latency_ms: float = 0.0
    chunks: int = DEFAULT_CHUNKS
    chunk_delay_ms: float = 0.0
    status: int | None = None
    timeout: bool = False
    malformed_sse: bool = False
    drop: bool = False
    # Stream the reply in pieces of near-equal length instead of on word boundaries, so
    # any substring (a PII placeholder) can be split across chunks.
    split_chars: bool = False


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A scripted tool call: the tool name and its arguments as a JSON object string."""

    name: str
    arguments: str

    @property
    def input(self) -> dict[str, Any]:
        """The arguments as a dict (Anthropic's `input`, Ollama's `arguments`)."""
        value = json.loads(self.arguments)
        return value if isinstance(value, dict) else {}


def _number(headers: Mapping[str, str], name: str, default: float, low: float) -> float:
    raw = headers.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise BehaviourError(f"{name} must be a number, got {raw!r}") from exc
    if value < low:
        raise BehaviourError(f"{name} must be >= {low:g}, got {raw!r}")
    return value


def _flag(headers: Mapping[str, str], name: str) -> bool:
    return headers.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def parse_behaviour(headers: Mapping[str, str], default_latency_ms: float = 0.0) -> Behaviour:
    """Read the `X-Fake-*` headers (case-insensitive mapping); raises BehaviourError."""
    status: int | None = None
    raw_status = headers.get("x-fake-status")
    if raw_status is not None:
        try:
            status = int(raw_status)
        except ValueError as exc:
            raise BehaviourError(f"x-fake-status must be an integer, got {raw_status!r}") from exc
        if not 100 <= status <= 599:
            raise BehaviourError(f"x-fake-status must be an HTTP status, got {raw_status!r}")
        if status < 400:
            status = None
    return Behaviour(
        reply=headers.get("x-fake-reply"),
        latency_ms=_number(headers, "x-fake-latency-ms", default_latency_ms, 0),
        chunks=int(_number(headers, "x-fake-chunks", DEFAULT_CHUNKS, 1)),
        chunk_delay_ms=_number(headers, "x-fake-chunk-delay-ms", 0.0, 0),
        status=status,
        timeout=_flag(headers, "x-fake-timeout"),
        malformed_sse=_flag(headers, "x-fake-malformed-sse"),
        drop=_flag(headers, "x-fake-drop"),
        split_chars=headers.get("x-fake-split", "").strip().lower() == "chars",
    )


def text_of(content: Any) -> str:
    """The text of a message `content`: a string, or a list of parts/blocks with `text`."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts: list[str] = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                value = part.get("text")
                if isinstance(value, str):
                    texts.append(value)
                elif "content" in part:  # tool_result blocks nest their content
                    texts.append(text_of(part["content"]))
        return " ".join(texts)
    return ""


def count_words(texts: Iterable[str]) -> int:
    """The fake's token count: whitespace-separated words, deterministic."""
    return sum(len(text.split()) for text in texts)


def default_reply(provider: str, model: str, prompt_words: int) -> str:
    """The deterministic sentence answered when nothing scripts the reply."""
    return (
        f"This is a deterministic reply from the fake {provider} backend "
        f"for model {model} to a prompt of {prompt_words} words."
    )


def reply_for(
    behaviour: Behaviour, last_user: str, provider: str, model: str, prompt_words: int
) -> str:
    """The reply text: `X-Fake-Reply`, else text after `fake-reply:`, else the default."""
    if behaviour.reply is not None:
        return behaviour.reply
    marker = last_user.find(REPLY_MARKER)
    if marker >= 0:
        return last_user[marker + len(REPLY_MARKER) :].strip()
    return default_reply(provider, model, prompt_words)


def find_tool_call(last_user: str) -> ToolCall | None:
    """The `fake-tool:NAME {json args}` scripted in the last user message, if any."""
    match = _TOOL_MARKER.search(last_user)
    if match is None:
        return None
    rest = last_user[match.end() :].lstrip()
    arguments: Any = {}
    if rest.startswith("{"):
        try:
            arguments, _ = json.JSONDecoder().raw_decode(rest)
        except ValueError:
            arguments = {}
    return ToolCall(name=match.group(1), arguments=json.dumps(arguments, separators=(",", ":")))


def conversation(messages: Any, preface: Iterable[str] = ()) -> tuple[list[str], str]:
    """Texts of `preface` and of every message (chat or input items), and the last user text."""
    texts = list(preface)
    last_user = ""
    if isinstance(messages, list):
        for message in messages:
            if not isinstance(message, dict):
                continue
            text = text_of(message.get("content"))
            texts.append(text)
            if message.get("role") == "user":
                last_user = text
    return texts, last_user


class Answer(NamedTuple):
    """What the fake answers: a scripted tool call (reply "") or a reply, and its word count."""

    tool: ToolCall | None
    reply: str
    output_tokens: int


def answer_for(
    behaviour: Behaviour,
    last_user: str,
    *,
    tools: bool,
    provider: str,
    model: str,
    prompt_words: int,
) -> Answer:
    """A scripted tool call when tools are offered and the last user asks for one, else text."""
    tool = find_tool_call(last_user) if tools else None
    reply = "" if tool else reply_for(behaviour, last_user, provider, model, prompt_words)
    return Answer(tool, reply, count_words([tool.arguments if tool else reply]))


def split_words(text: str, parts: int) -> list[str]:
    """Split text into min(parts, words) pieces on word boundaries; they join back to text."""
    words = _WORD.findall(text)
    if not words:
        return [text] if text else []
    covered = sum(len(word) for word in words)
    words[-1] += text[covered:]
    return ["".join(group) for group in _groups(words, parts)]


def split_reply(text: str, behaviour: Behaviour) -> list[str]:
    """The reply's stream pieces: on word boundaries, or anywhere with `X-Fake-Split: chars`."""
    if behaviour.split_chars:
        return split_chars(text, behaviour.chunks)
    return split_words(text, behaviour.chunks)


def split_chars(text: str, parts: int) -> list[str]:
    """Split text into min(parts, len) pieces of near-equal length (tool-call arguments)."""
    if not text:
        return []
    return ["".join(group) for group in _groups(list(text), parts)]


def _groups(items: list[str], parts: int) -> list[list[str]]:
    """Exactly min(parts, len(items)) consecutive groups, sizes differing by at most one."""
    count = min(max(parts, 1), len(items))
    size, extra = divmod(len(items), count)
    groups, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        groups.append(items[start:end])
        start = end
    return groups
