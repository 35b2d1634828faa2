"""Pure, incremental parsers for streamed answers, and the stream-window cutter.

`StreamParser.feed(chunk)` takes the backend's bytes exactly as relayed (any
split, even mid-line or mid-UTF-8) and assembles text, tool calls, usage and
finish reason from OpenAI SSE (chat, completions, responses), Anthropic SSE and
Ollama NDJSON. Malformed lines are counted and skipped, never raised: the
relay must not fail because an audit parser did.

Bounded, whatever the backend sends: a partial line is kept as a list of pieces
(joined once, when its newline arrives: no quadratic re-concatenation) and a line
over `max_line_bytes` is dropped (counted in `oversized`); the assembled text and
each tool call's arguments stop growing at `max_chars` (`truncated` is set; `feed`
still returns every new piece, so stream windows cover the whole answer); at most
`MAX_TOOL_CALLS` tool calls are assembled.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.answers import Assembled, ollama_tool_calls
from schemas.events import Provider, ToolCall

__all__ = ["MAX_TOOL_CALLS", "StreamParser", "WindowCutter"]

MAX_TOOL_CALLS = 128


class _Call:
    __slots__ = ("args", "id", "name", "size")

    def __init__(self, id: str | None = None, name: str = "") -> None:
        self.id = id
        self.name = name[:256]
        self.args: list[str] = []
        self.size = 0

    def add(self, piece: str, cap: int) -> bool:
        """Append argument text up to `cap` characters; False when some was cut."""
        room = cap - self.size
        if room <= 0:
            return False
        self.args.append(piece[:room])
        self.size += min(len(piece), room)
        return len(piece) <= room


class StreamParser:
    """Assemble one streamed response; `ndjson` for Ollama-style line-delimited JSON."""

    def __init__(
        self,
        provider: Provider,
        *,
        ndjson: bool = False,
        max_chars: int = 1_000_000,
        max_line_bytes: int = 1 << 20,
    ) -> None:
        self.provider = provider
        self.ndjson = ndjson or provider == "ollama"
        self.result = Assembled()
        self.malformed = 0
        self.oversized = 0
        self.truncated = False
        self.max_chars = max_chars
        self.max_line_bytes = max_line_bytes
        self._pending: list[bytes] = []  # pieces of the current, unfinished line
        self._pending_size = 0
        self._skipping = False  # inside a line over max_line_bytes
        self._parts: list[str] = []
        self._kept = 0  # characters stored in _parts
        self._calls: dict[int, _Call] = {}
        self._done_calls: list[ToolCall] = []
        self._chars = 0
        self._new: list[str] = []  # text completed by the line being parsed

    @property
    def chars(self) -> int:
        """Characters of text assembled so far."""
        return self._chars

    def feed(self, chunk: bytes) -> str:
        """Consume relayed bytes; return the text they completed (may be empty)."""
        if b"\n" not in chunk:
            self._hold(chunk)
            return ""
        lines = chunk.split(b"\n")
        rest = lines.pop()
        new: list[str] = []
        first: bytes | None = lines[0]
        if self._pending or self._skipping:
            self._hold(lines[0])
            first = self._take()
        elif len(lines[0]) > self.max_line_bytes:
            self.oversized += 1
            first = None
        if first is not None:
            self._line(first, new)
        for line in lines[1:]:
            if len(line) > self.max_line_bytes:
                self.oversized += 1
            else:
                self._line(line, new)
        self._hold(rest)
        if not new:
            return ""
        text = "".join(new)
        self._chars += len(text)
        return text

    def _hold(self, piece: bytes) -> None:
        """Keep part of an unfinished line, unless the line is already over the cap."""
        if not piece or self._skipping:
            return
        self._pending_size += len(piece)
        if self._pending_size > self.max_line_bytes:
            self._pending.clear()
            self._pending_size = 0
            self._skipping = True
            self.oversized += 1
            return
        self._pending.append(piece)

    def _take(self) -> bytes | None:
        """The finished pending line (None when it was dropped as oversized)."""
        skipped, self._skipping = self._skipping, False
        line = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        return None if skipped else line

    def finish(self) -> Assembled:
        """Flush a trailing line without newline and return the assembled result."""
        tail = self._take()
        if tail:
            new: list[str] = []
            self._line(tail, new)
            self._chars += sum(len(p) for p in new)
        r = self.result
        r.text = "".join(self._parts)
        calls = list(self._done_calls)
        for _, c in sorted(self._calls.items()):
            calls.append(ToolCall.model_construct(id=c.id, name=c.name, arguments="".join(c.args)))
        r.tool_calls = calls
        return r

    def _text(self, piece: str) -> None:
        """Record assembled text: returned by `feed`, stored up to `max_chars`."""
        self._new.append(piece)
        room = self.max_chars - self._kept
        if room <= 0:
            self.truncated = True
            return
        if len(piece) > room:
            piece, self.truncated = piece[:room], True
        self._parts.append(piece)
        self._kept += len(piece)

    def _call(self, index: object, call: _Call | None = None) -> _Call | None:
        """The tool call at `index` (created from `call`, or empty), within the cap."""
        key = index if isinstance(index, int) else 0
        found = self._calls.get(key)
        if found is not None and call is None:
            return found
        if len(self._calls) >= MAX_TOOL_CALLS and found is None:
            self.truncated = True
            return None
        self._calls[key] = call or _Call()
        return self._calls[key]

    def _args(self, call: _Call | None, piece: object) -> None:
        if call is not None and isinstance(piece, str) and piece:
            if not call.add(piece, self.max_chars):
                self.truncated = True

    def _line(self, line: bytes, new: list[str]) -> None:
        self._new = new
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
                    self._text(content)
                for tc in delta.get("tool_calls") or ():
                    call = self._call(tc.get("index", 0))
                    if call is None:
                        continue
                    if tc.get("id"):
                        call.id = tc["id"]
                    fn = tc.get("function") or {}
                    if fn.get("name") and len(call.name) < 256:
                        call.name += str(fn["name"])[: 256 - len(call.name)]
                    self._args(call, fn.get("arguments"))
            elif isinstance(choice.get("text"), str) and choice["text"]:
                self._text(choice["text"])
            if choice.get("finish_reason"):
                r.finish_reason = choice["finish_reason"]
        usage = obj.get("usage")
        if isinstance(usage, dict):
            r.input_tokens = usage.get("prompt_tokens", r.input_tokens)
            r.output_tokens = usage.get("completion_tokens", r.output_tokens)
            r.total_tokens = usage.get("total_tokens", r.total_tokens)

    def _responses(self, kind: str, obj: dict[str, Any]) -> None:
        r = self.result
        if kind == "response.output_text.delta" and isinstance(obj.get("delta"), str):
            self._text(obj["delta"])
        elif kind == "response.output_item.added":
            item = obj.get("item") or {}
            if item.get("type") == "function_call":
                self._call(
                    obj.get("output_index", len(self._calls)),
                    _Call(item.get("call_id"), str(item.get("name", ""))),
                )
        elif kind == "response.function_call_arguments.delta":
            self._args(self._calls.get(obj.get("output_index", 0)), obj.get("delta"))
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            resp = obj.get("response") or {}
            r.model = resp.get("model", r.model)
            r.finish_reason = resp.get("status")
            usage = resp.get("usage")
            if isinstance(usage, dict):
                r.input_tokens = usage.get("input_tokens")
                r.output_tokens = usage.get("output_tokens")
                r.total_tokens = usage.get("total_tokens")
            if resp.get("error"):
                self._error(resp["error"])

    def _anthropic(self, obj: dict[str, Any]) -> None:
        r = self.result
        kind = obj.get("type")
        if kind == "content_block_delta":
            delta = obj.get("delta") or {}
            if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
                self._text(delta["text"])
            elif delta.get("type") == "input_json_delta":
                self._args(self._calls.get(obj.get("index", 0)), delta.get("partial_json"))
        elif kind == "content_block_start":
            block = obj.get("content_block") or {}
            if block.get("type") == "tool_use":
                self._call(obj.get("index", 0), _Call(block.get("id"), str(block.get("name", ""))))
            elif block.get("type") == "text" and block.get("text"):
                self._text(str(block["text"]))
        elif kind == "message_start":
            msg = obj.get("message") or {}
            r.model = msg.get("model", r.model)
            usage = msg.get("usage") or {}
            r.input_tokens = usage.get("input_tokens", r.input_tokens)
            r.output_tokens = usage.get("output_tokens", r.output_tokens)
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
                self._text(content)
            if msg.get("tool_calls") and len(self._done_calls) < MAX_TOOL_CALLS:
                self._done_calls.extend(ollama_tool_calls(msg))
        elif isinstance(obj.get("response"), str) and obj["response"]:
            self._text(obj["response"])
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
