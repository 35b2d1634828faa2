"""Pure, incremental parsers for streamed answers, and the stream-window cutter.

`StreamParser.feed(chunk)` takes the backend's bytes exactly as relayed (any
split, even mid-line or mid-UTF-8) and assembles text, tool calls, usage and
finish reason from OpenAI SSE (chat, completions, responses), Anthropic SSE and
Ollama NDJSON (each provider's events are read by its dialect, `proxy.dialects`).
Malformed lines are counted and skipped, never raised: the
relay must not fail because an audit parser did.

Bounded, whatever the backend sends: a partial line is kept as a list of pieces
(joined once, when its newline arrives: no quadratic re-concatenation) and a line
over `max_line_bytes` is dropped (counted in `oversized`); the assembled text
stops growing at `max_chars` and each tool call's arguments are cut to it in the
result (`truncated` is set; `feed` still returns every new piece, so stream
windows cover the whole answer); at most `MAX_TOOL_CALLS` tool calls are kept.
"""

from __future__ import annotations

import orjson

from proxy import dialects
from proxy.dialects import Assembled, StreamAcc
from schemas.events import Provider, ToolCall

__all__ = ["MAX_TOOL_CALLS", "StreamParser", "WindowCutter"]

MAX_TOOL_CALLS = 128


class StreamParser:
    """Assemble one streamed response; `ndjson` for Ollama-style line-delimited JSON.

    Framing (SSE `data:` lines or NDJSON lines) is handled here; what each event
    means is the provider dialect's `stream_event`. An NDJSON stream from an
    OpenAI-compatible server is read as Ollama's, which is what such servers send.
    """

    def __init__(
        self,
        provider: Provider,
        *,
        ndjson: bool = False,
        max_chars: int = 1_000_000,
        max_line_bytes: int = 1 << 20,
    ) -> None:
        self.provider = provider
        self.max_chars = max_chars
        self.max_line_bytes = max_line_bytes
        self.oversized = 0
        self.truncated = False
        self._pending: list[bytes] = []  # pieces of the current, unfinished line
        self._pending_size = 0
        self._skipping = False  # inside a line over max_line_bytes
        self._kept = 0  # characters of text kept in the accumulator
        self.ndjson = ndjson or provider == "ollama"
        reader = "ollama" if self.ndjson and provider != "anthropic" else provider
        self._dialect = dialects.get(reader)
        self._acc = StreamAcc()
        self.result = self._acc.result
        self.malformed = 0
        self._chars = 0

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
        first: bytes | None = lines[0]
        if self._pending or self._skipping:
            self._hold(lines[0])
            first = self._take()
        elif len(lines[0]) > self.max_line_bytes:
            self.oversized += 1
            first = None
        new: list[str] = []
        if first is not None:
            self._parsed(first, new)
        for line in lines[1:]:
            if len(line) > self.max_line_bytes:
                self.oversized += 1
            else:
                self._parsed(line, new)
        self._hold(rest)
        if not new:
            return ""
        text = "".join(new)
        self._chars += len(text)
        return text

    def _parsed(self, line: bytes, new: list[str]) -> None:
        """Parse one line; collect its new text and keep the accumulator within its caps."""
        parts = self._acc.parts
        before = len(parts)
        self._line(line)
        if len(parts) > before:
            added = parts[before:]
            new.extend(added)
            del parts[before:]
            for piece in added:
                room = self.max_chars - self._kept
                if room <= 0 or len(piece) > room:
                    self.truncated = True
                if room > 0:
                    parts.append(piece[:room])
                    self._kept += min(len(piece), room)
        calls = self._acc.calls
        if len(calls) > MAX_TOOL_CALLS:
            self.truncated = True
            for key in sorted(calls)[MAX_TOOL_CALLS:]:
                del calls[key]
        if len(self._acc.done_calls) > MAX_TOOL_CALLS:
            self.truncated = True
            del self._acc.done_calls[MAX_TOOL_CALLS:]

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
        acc = self._acc
        tail = self._take()
        if tail:
            new: list[str] = []
            self._parsed(tail, new)
            self._chars += sum(len(p) for p in new)
        r = acc.result
        r.text = "".join(acc.parts)
        calls = list(acc.done_calls)
        for _, c in sorted(acc.calls.items()):
            args = "".join(c.args)
            if len(args) > self.max_chars:
                args, self.truncated = args[: self.max_chars], True
            calls.append(ToolCall.model_construct(id=c.id, name=c.name, arguments=args))
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
