"""The coalescing transport on a real socket pair: order kept, one flush per turn, close flushes."""

from __future__ import annotations

import asyncio
import socket

from proxy.serving import CoalescingTransport


async def _pair() -> tuple[CoalescingTransport, socket.socket, list[int]]:
    loop = asyncio.get_running_loop()
    ours, peer = socket.socketpair()
    peer.setblocking(False)
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
    assert isinstance(transport, asyncio.Transport)
    flushes: list[int] = []
    real_writelines = transport.writelines

    def counted(data: list[bytes]) -> None:
        flushes.append(len(data))
        real_writelines(data)

    transport.writelines = counted  # type: ignore[method-assign]
    return CoalescingTransport(transport, loop), peer, flushes


async def _read(peer: socket.socket, n: int) -> bytes:
    loop = asyncio.get_running_loop()
    out = b""
    while len(out) < n:
        out += await loop.sock_recv(peer, n - len(out))
    return out


def test_writes_of_one_turn_leave_together_in_order() -> None:
    async def run() -> None:
        t, peer, flushes = await _pair()
        t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
        t.write(b"hello")
        assert flushes == []  # nothing written yet within this turn
        await asyncio.sleep(0)
        assert flushes == [2]
        got = await _read(peer, 43)
        assert got.endswith(b"\r\n\r\nhello") and got.startswith(b"HTTP/1.1 200")
        t.write(b"next")
        await asyncio.sleep(0)
        assert flushes == [2, 1] and await _read(peer, 4) == b"next"
        t.close()
        peer.close()

    asyncio.run(run())


def test_close_flushes_and_abort_drops() -> None:
    async def run() -> None:
        t, peer, _ = await _pair()
        t.write(b"last words")
        t.close()  # before the turn ends
        assert await _read(peer, 10) == b"last words"
        assert t.is_closing()
        peer.close()
        t2, peer2, flushes = await _pair()
        t2.write(b"never sent")
        t2.abort()
        await asyncio.sleep(0)
        assert flushes == [] and t2.is_closing()
        peer2.close()

    asyncio.run(run())
