"""Pure, incremental parsers for streamed answers, and the stream-window cutter.

`StreamParser.feed(chunk)` takes the backend's bytes exactly as relayed (any
split, even mid-line or mid-UTF-8) and assembles text, tool calls, usage and
finish reason from OpenAI SSE (chat, completions, responses), Anthropic SSE and
Ollama NDJSON (each provider's events are read by its dialect, `proxy.dialects`).
Malformed lines are counted and skipped, never raised: the
relay must not fail because an audit parser did.
"""

from __future__ import annotations

import orjson

from proxy import dialects
from proxy.dialects import Assembled, StreamAcc
from schemas.events import Provider, ToolCall

__all__ = ["StreamParser", "WindowCutter"]


class StreamParser:
    """Assemble one streamed response; `ndjson` for Ollama-style line-delimited JSON.

    Framing (SSE `data:` lines or NDJSON lines) is handled here; what each event
    means is the provider dialect's `stream_event`. An NDJSON stream from an
    OpenAI-compatible server is read as Ollama's, which is what such servers send.
    """

    def __init__(self, provider: Provider, *, ndjson: bool = False) -> None:
        self.provider = provider
        self.ndjson = ndjson or provider == "ollama"
        reader = "ollama" if self.ndjson and provider != "anthropic" else provider
        self._dialect = dialects.get(reader)
        self._acc = StreamAcc()
        self.result = self._acc.result
        self.malformed = 0
        self._buf = b""
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
        parts = self._acc.parts
        before = len(parts)
        for line in lines:
            self._line(line)
        if len(parts) == before:
            return ""
        new = "".join(parts[before:])
        self._chars += len(new)
        return new

    def finish(self) -> Assembled:
        """Flush a trailing line without newline and return the assembled result."""
        acc = self._acc
        if self._buf:
            tail, self._buf = self._buf, b""
            n = len(acc.parts)
            self._line(tail)
            self._chars += sum(len(p) for p in acc.parts[n:])
        r = acc.result
        r.text = "".join(acc.parts)
        calls = list(acc.done_calls)
        for _, c in sorted(acc.calls.items()):
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
            self._dialect.stream_event(obj, self._acc)
        except (AttributeError, TypeError, ValueError, KeyError):
            self.malformed += 1  # an unexpected shape: audit less, never break the relay


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
