"""Pure, incremental parsers for streamed answers, and the stream-window cutter.

`StreamParser.feed(chunk)` takes the backend's bytes exactly as relayed (any
split, even mid-line or mid-UTF-8) and assembles text, tool calls, usage and
finish reason from OpenAI SSE (chat, completions, responses), Anthropic SSE and
Ollama NDJSON. Malformed lines are counted and skipped, never raised: the
relay must not fail because an audit parser did.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.answers import Assembled, cached_of, ollama_tool_calls
from schemas.events import Provider, ToolCall

__all__ = ["StreamParser", "WindowCutter"]


class _Call:
    __slots__ = ("args", "id", "name")

    def __init__(self, id: str | None = None, name: str = "") -> None:
        self.id = id
        self.name = name
        self.args: list[str] = []


class StreamParser:
    """Assemble one streamed response; `ndjson` for Ollama-style line-delimited JSON."""

    def __init__(self, provider: Provider, *, ndjson: bool = False) -> None:
        self.provider = provider
        self.ndjson = ndjson or provider == "ollama"
        self.result = Assembled()
        self.malformed = 0
        self._buf = b""
        self._parts: list[str] = []
        self._calls: dict[int, _Call] = {}
        self._done_calls: list[ToolCall] = []
        self._chars = 0

    @property
    def chars(self) -> int:
        """Characters of text assembled so far."""
        return self._chars

    def feed(self, chunk: bytes) -> str:
        """Consume relayed bytes; return the text they completed (may be empty)."""
        data = self._buf + chunk if self._buf else chunk
        if b"\n" not in data:
            self._buf = data
            return ""
        lines = data.split(b"\n")
        self._buf = lines.pop()
        before = len(self._parts)
        for line in lines:
            self._line(line)
        if len(self._parts) == before:
            return ""
        new = "".join(self._parts[before:])
        self._chars += len(new)
        return new

    def finish(self) -> Assembled:
        """Flush a trailing line without newline and return the assembled result."""
        if self._buf:
            tail, self._buf = self._buf, b""
            n = len(self._parts)
            self._line(tail)
            self._chars += sum(len(p) for p in self._parts[n:])
        r = self.result
        r.text = "".join(self._parts)
        calls = list(self._done_calls)
        for _, c in sorted(self._calls.items()):
            calls.append(ToolCall.model_construct(id=c.id, name=c.name, arguments="".join(c.args)))
        r.tool_calls = calls
        return r

    def _line(self, line: bytes) -> None:
        line = line.strip()
        if not line:
            return
        if not self.ndjson:
            if not line.startswith(b"data:"):
                return  # `event:`, `id:`, comments: the data line carries the type
            line = line[5:].strip()
            if line == b"[DONE]":
                return
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            self.malformed += 1
            return
        if not isinstance(obj, dict):
            return
        try:
            if self.provider == "anthropic":
                self._anthropic(obj)
            elif self.ndjson:
                self._ollama(obj)
            else:
                self._openai(obj)
        except (AttributeError, TypeError, ValueError, KeyError):
            self.malformed += 1  # an unexpected shape: audit less, never break the relay

    def _error(self, err: Any) -> None:
        if isinstance(err, dict):
            self.result.error_type = str(err.get("type") or err.get("code") or "error")
            self.result.error_message = str(err.get("message", ""))[:1000]
        else:
            self.result.error_type, self.result.error_message = "error", str(err)[:1000]

    def _openai(self, obj: dict[str, Any]) -> None:
        r = self.result
        if obj.get("error"):
            self._error(obj["error"])
            return
        kind = obj.get("type")
        if isinstance(kind, str) and kind.startswith("response."):
            self._responses(kind, obj)
            return
        if r.model is None and isinstance(obj.get("model"), str):
            r.model = obj["model"]
        for choice in obj.get("choices") or ():
            delta = choice.get("delta")
            if isinstance(delta, dict):
                content = delta.get("content")
                if isinstance(content, str) and content:
                    self._parts.append(content)
                for tc in delta.get("tool_calls") or ():
                    call = self._calls.get(tc.get("index", 0))
                    if call is None:
                        call = self._calls[tc.get("index", 0)] = _Call()
                    if tc.get("id"):
                        call.id = tc["id"]
                    fn = tc.get("function") or {}
                    if fn.get("name"):
                        call.name += fn["name"]
                    if fn.get("arguments"):
                        call.args.append(fn["arguments"])
            elif isinstance(choice.get("text"), str) and choice["text"]:
                self._parts.append(choice["text"])
            if choice.get("finish_reason"):
                r.finish_reason = choice["finish_reason"]
        usage = obj.get("usage")
        if isinstance(usage, dict):
            r.input_tokens = usage.get("prompt_tokens", r.input_tokens)
            r.output_tokens = usage.get("completion_tokens", r.output_tokens)
            r.total_tokens = usage.get("total_tokens", r.total_tokens)
            r.cached_input_tokens = cached_of(usage)

    def _responses(self, kind: str, obj: dict[str, Any]) -> None:
        r = self.result
        if kind == "response.output_text.delta" and isinstance(obj.get("delta"), str):
            self._parts.append(obj["delta"])
        elif kind == "response.output_item.added":
            item = obj.get("item") or {}
            if item.get("type") == "function_call":
                self._calls[obj.get("output_index", len(self._calls))] = _Call(
                    item.get("call_id"), str(item.get("name", ""))
                )
        elif kind == "response.function_call_arguments.delta":
            call = self._calls.get(obj.get("output_index", 0))
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
                self._error(resp["error"])

    def _anthropic(self, obj: dict[str, Any]) -> None:
        r = self.result
        kind = obj.get("type")
        if kind == "content_block_delta":
            delta = obj.get("delta") or {}
            if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
                self._parts.append(delta["text"])
            elif delta.get("type") == "input_json_delta":
                call = self._calls.get(obj.get("index", 0))
                if call is not None:
                    call.args.append(str(delta.get("partial_json", "")))
        elif kind == "content_block_start":
            block = obj.get("content_block") or {}
            if block.get("type") == "tool_use":
                self._calls[obj.get("index", 0)] = _Call(
                    block.get("id"), str(block.get("name", ""))
                )
            elif block.get("type") == "text" and block.get("text"):
                self._parts.append(str(block["text"]))
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
            self._error(obj.get("error"))

    def _ollama(self, obj: dict[str, Any]) -> None:
        r = self.result
        if obj.get("error"):
            self._error(obj["error"])
            return
        if r.model is None and isinstance(obj.get("model"), str):
            r.model = obj["model"]
        msg = obj.get("message")
        if isinstance(msg, dict):
            content = msg.get("content")
            if isinstance(content, str) and content:
                self._parts.append(content)
            if msg.get("tool_calls"):
                self._done_calls.extend(ollama_tool_calls(msg))
        elif isinstance(obj.get("response"), str) and obj["response"]:
            self._parts.append(obj["response"])
        if obj.get("done"):
            r.finish_reason = obj.get("done_reason", r.finish_reason)
            r.input_tokens = obj.get("prompt_eval_count", r.input_tokens)
            r.output_tokens = obj.get("eval_count", r.output_tokens)


class WindowCutter:
    """Cut assembled text into bounded, overlapping windows while a stream runs.

    Each window is at most `size` characters; consecutive windows overlap by
    `overlap` characters so a pattern split across a boundary is still seen whole.
    """

    def __init__(self, size: int, overlap: int) -> None:
        if size <= 0 or not 0 <= overlap < size:
            raise ValueError("need size > 0 and 0 <= overlap < size")
        self.size = size
        self.overlap = overlap
        self.index = 0
        self._buf = ""
        self._offset = 0
        self._fresh = 0  # characters in _buf never emitted yet

    def feed(self, text: str) -> list[tuple[int, int, str]]:
        """Add text; return full windows as (index, offset, text)."""
        if not text:
            return []
        self._buf += text
        self._fresh += len(text)
        out: list[tuple[int, int, str]] = []
        step = self.size - self.overlap
        while len(self._buf) >= self.size:
            out.append((self.index, self._offset, self._buf[: self.size]))
            self.index += 1
            self._buf = self._buf[step:]
            self._offset += step
            self._fresh = max(0, len(self._buf) - self.overlap)
        return out

    def finish(self) -> tuple[int, int, str] | None:
        """The last, partial window, if it holds text no window carried yet."""
        if self._fresh <= 0 or not self._buf:
            return None
        window = (self.index, self._offset, self._buf)
        self.index += 1
        self._fresh = 0
        return window
