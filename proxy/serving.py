"""uvicorn's httptools protocol with one socket write per loop turn instead of one per message.

uvicorn writes an answer's status line and headers when the app sends
`http.response.start`, then its body when the app sends `http.response.body`:
two `send()` system calls for every buffered answer. On loopback each one also
delivers the segment to the reader, and py-spy put the pair at ~14% of the
proxy's CPU per request. `CoalescingHttpToolsProtocol` hands uvicorn a
transport whose `write` buffers and flushes once, at the end of the current
event-loop turn: the head and body of an answer (or the chunks of a stream
that arrived together) leave in one `writelines`. Nothing waits longer than
the rest of the turn; `close` flushes first, `abort` drops the buffer as the
real transport would; flow control is untouched (the real transport still
calls the protocol's `pause_writing` once the flushed bytes exceed its limit).

It relies on uvicorn's `http` setting accepting a protocol class and on
`HttpToolsProtocol.connection_made(transport)` storing the transport it is
given: uvicorn is pinned to the minor version in pyproject.toml.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingHttpToolsProtocol", "CoalescingTransport"]


class CoalescingTransport:
    """A transport whose writes of one loop turn go out in one `writelines`."""

    __slots__ = ("_buffer", "_loop", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._buffer: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._buffer:
            self._loop.call_soon(self.flush)
        self._buffer.append(data)

    def flush(self) -> None:
        buffer, self._buffer = self._buffer, []
        if buffer and not self.transport.is_closing():
            self.transport.writelines(buffer)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self._buffer = []
        self.transport.abort()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def __getattr__(self, name: str) -> Any:  # pause_reading, get_extra_info, ...
        return getattr(self.transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` over a `CoalescingTransport`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
