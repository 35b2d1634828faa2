"""The answer half: restore placeholders for the client, whole bodies and streams.

`restore_body` rewrites a buffered JSON answer (every string and key, so
tool-call arguments get the real values too). `StreamRehydrator` rewrites SSE
(events separated by a blank line) or NDJSON (one object a line) as bytes
arrive: each delta goes through its channel's `TextChannel`, which holds back
at most one placeholder's length; held text goes out as an extra delta event
right before the event that ends its channel, so the client's stream stays a
well-formed sequence of the provider's own events. Events without deltas have
their complete placeholders restored in place; bytes of events that change
nothing are relayed exactly as received. `TextRehydrator` restores a stream
that has no events (a JSON or text answer sent without a length) as one text.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from typing import Any

import orjson

from proxy.pii.placeholders import Restorer, TextChannel
from proxy.pii.stream_events import ALL, EVENTS, Events, Key, Slot

__all__ = ["StreamRehydrator", "TextRehydrator", "restore_body", "restore_value"]

_MAX_PENDING = 1 << 20  # an event larger than this without a separator is relayed as is


def _json_source(text: str) -> bool:
    if text.lstrip()[:1] not in ("{", "["):
        return False
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def restore_value(restorer: Restorer, value: Any) -> tuple[Any, bool]:
    """`value` (parsed JSON) with placeholders restored in every string and key; changed?"""
    if isinstance(value, str):
        new = restorer.restore(value)
        if new is not value and _json_source(value):
            # JSON inside a JSON string (tool-call arguments): values go in JSON-escaped.
            new = restorer.restore(value, json_text=True)
        return new, new is not value
    if isinstance(value, list):
        changed = False
        for i, item in enumerate(value):
            new, c = restore_value(restorer, item)
            if c:
                value[i], changed = new, True
        return value, changed
    if isinstance(value, dict):
        changed = False
        for key in list(value):
            new, c = restore_value(restorer, value[key])
            if c:
                value[key], changed = new, True
            new_key = restorer.restore(key)
            if new_key is not key:
                value[new_key] = value.pop(key)
                changed = True
        return value, changed
    return value, False


def restore_body(restorer: Restorer, body: bytes) -> bytes:
    """A buffered answer with placeholders restored (JSON re-encoded only when changed)."""
    if not restorer.mentioned_in(body):
        return body  # the common answer that repeats no value: relayed byte for byte
    fast = restorer.replace_exact(body)
    if fast is not None:
        return fast  # the common answer that repeats placeholders faithfully: no parse
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace")
        new = restorer.restore(text)
        return body if new is text else new.encode()
    obj, changed = restore_value(restorer, obj)
    return orjson.dumps(obj) if changed else body


class StreamRehydrator:
    """Rewrites one streamed answer; `feed` bytes in any split, `finish` at the end."""

    def __init__(self, provider: str, restorer: Restorer, *, ndjson: bool) -> None:
        self._events: Events = EVENTS.get(provider, EVENTS["openai"])
        self._restorer = restorer
        self._ndjson = ndjson
        self._sep = b"\n" if ndjson else b"\n\n"
        self._buf = b""
        self._channels: dict[Key, TextChannel] = {}
        self._last: dict[Key, dict[str, Any]] = {}
        self._sse_name: dict[Key, str | None] = {}

    def feed(self, chunk: bytes) -> bytes:
        """Bytes for the client now (complete events, rewritten); the rest is buffered."""
        data = self._buf + chunk if self._buf else chunk
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        cut = data.rfind(self._sep)
        if cut < 0:
            if len(data) > _MAX_PENDING:
                self._buf = b""
                return data
            self._buf = data
            return b""
        cut += len(self._sep)
        self._buf = data[cut:]
        out = [self._event(block) for block in data[:cut].split(self._sep)]
        return self._sep.join(out)

    def finish(self) -> bytes:
        """The stream ended: the last partial event, then anything still held."""
        out = b""
        if self._buf:
            tail, self._buf = self._buf, b""
            out = self._event(tail)
        return out + self._flush(ALL)

    def _flush(self, closes: Iterable[Key]) -> bytes:
        """Held text of the channels `closes` ends (every one for `ALL`), as delta events."""
        keys = list(self._channels)
        if closes is not ALL:
            ends = list(closes)
            keys = [k for k in keys if any(k[: len(e)] == e for e in ends)]
        parts: list[bytes] = []
        for key in keys:
            channel = self._channels.pop(key)
            text = channel.flush()
            if text:
                name, evt = self._events.delta_event(key, text, self._last.get(key, {}))
                parts.append(self._frame(name, orjson.dumps(evt)))
        return b"".join(parts)

    def _frame(self, name: str | None, data: bytes) -> bytes:
        if self._ndjson:
            return data + b"\n"
        head = b"event: " + name.encode() + b"\n" if name else b""
        return head + b"data: " + data + b"\n\n"

    def _event(self, block: bytes) -> bytes:
        if not block.strip():
            return block
        if self._ndjson:
            rewritten, before = self._json(block)
            return before + rewritten
        lines = block.split(b"\n")
        for i, line in enumerate(lines):
            if line.startswith(b"data:"):
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    return self._flush(ALL) + block
                rewritten, before = self._json(payload)
                if rewritten is payload:
                    return before + block
                lines[i] = b"data: " + rewritten
                return before + b"\n".join(lines)
        return block

    def _json(self, payload: bytes) -> tuple[bytes, bytes]:
        """(the payload rewritten, framed events to send before it)."""
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return payload, b""
        if not isinstance(obj, dict):
            return payload, b""
        before = self._flush(self._events.closes(obj))
        slots = self._events.slots(obj)
        for s in slots:
            s.put("")  # restored below by their channels, never twice
        obj, changed = restore_value(self._restorer, obj)
        for s in slots:
            changed = self._slot(s, obj) or changed
        return (orjson.dumps(obj) if changed else payload), before

    def _slot(self, s: Slot, obj: dict[str, Any]) -> bool:
        channel = self._channels.get(s.key)
        if channel is None:
            channel = self._channels[s.key] = TextChannel(self._restorer, json_text=s.json_text)
        self._last[s.key] = obj
        out = channel.feed(s.text)
        s.put(out)
        return out != s.text or not s.text


class TextRehydrator:
    """Rewrites an unframed streamed answer (JSON or text sent without a length).

    JSON (`json=True`) is held whole, up to `_MAX_PENDING` bytes, and restored as a
    parsed body (`restore_body`: a client reads JSON whole anyway, and JSON inside
    JSON strings is restored exactly); past that, and for text, the answer is one
    running text restored with at most one placeholder's length held back. A
    stream that is not UTF-8 is relayed unchanged from the first undecodable byte.
    """

    def __init__(self, restorer: Restorer, *, json: bool) -> None:
        self._restorer = restorer
        self._held: list[bytes] | None = [] if json else None
        self._size = 0
        self._channel = TextChannel(restorer, json_text=json)
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._binary = False

    def feed(self, chunk: bytes) -> bytes:
        """Restored bytes that can go now (a possible placeholder start is held)."""
        if self._held is not None:
            self._held.append(chunk)
            self._size += len(chunk)
            if self._size <= _MAX_PENDING:
                return b""
            chunk, self._held = b"".join(self._held), None
        if self._binary:
            return chunk
        try:
            text = self._decoder.decode(chunk)
        except UnicodeDecodeError:
            self._binary = True
            held = self._channel.flush().encode() + self._decoder.getstate()[0]
            return held + chunk
        return self._channel.feed(text).encode() if text else b""

    def finish(self) -> bytes:
        """The stream ended: whatever is held."""
        if self._held is not None:
            body, self._held = b"".join(self._held), None
            return restore_body(self._restorer, body) if body else b""
        if self._binary:
            return b""
        try:
            tail = self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            tail = ""
        return (self._channel.feed(tail) + self._channel.flush()).encode()
