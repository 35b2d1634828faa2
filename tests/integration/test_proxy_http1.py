"""The lean HTTP/1.1 client (`proxy.http1`) behaves as the aiohttp path does, byte for byte.

Each case runs through a `Forwarder` with the lean client and one without
(`lean=False`: aiohttp) against the same scripted server, which records the
request bytes it got; the two must send the same bytes and get the same answer
(status, reason, raw headers, body) or the same error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from modeltrail.embedded.process import free_port
from proxy.errors import ProxyError
from proxy.forward import Forwarder
from proxy.http1 import Http1Pool, LeanBody

Script = Callable[[asyncio.StreamWriter], Awaitable[bool]]  # True: keep the connection


def _answer(status: str, headers: list[str], body: bytes) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n"
    ).encode() + body


async def _ok(w: asyncio.StreamWriter) -> bool:
    w.write(_answer("200 OK", ["Content-Type: application/json", "X-Thing: A", "X-Thing: B",
                               "content-length: 11"], b'{"ok": 1}\r\n'))  # fmt: skip
    return True


async def _chunked(w: asyncio.StreamWriter) -> bool:
    w.write(
        _answer("200 OK", ["content-type: text/event-stream", "transfer-encoding: chunked"], b"")
    )
    for part in (b"data: 1\n\n", b"data: 2\n\n", b"data: [DONE]\n\n"):
        await asyncio.sleep(0.01)
        w.write(b"%x\r\n%s\r\n" % (len(part), part))
    w.write(b"0\r\n\r\n")
    return True


async def _until_eof(w: asyncio.StreamWriter) -> bool:
    w.write(_answer("200 OK", ["content-type: text/plain"], b"all of it"))
    return False


async def _continue(w: asyncio.StreamWriter) -> bool:
    w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    return await _ok(w)


async def _short(w: asyncio.StreamWriter) -> bool:
    w.write(_answer("200 OK", ["content-length: 100"], b"only ten.."))
    return False


async def _close_before_head(w: asyncio.StreamWriter) -> bool:
    return False


async def _stall_head(w: asyncio.StreamWriter) -> bool:
    await asyncio.sleep(2)
    return False


async def _stall_body(w: asyncio.StreamWriter) -> bool:
    w.write(_answer("200 OK", ["content-length: 100"], b"first"))
    await asyncio.sleep(2)
    return False


async def _garbage(w: asyncio.StreamWriter) -> bool:
    w.write(b"NOT HTTP AT ALL\r\n\r\n")
    return False


async def _bad_chunk(w: asyncio.StreamWriter) -> bool:
    w.write(_answer("200 OK", ["transfer-encoding: chunked"], b"5\r\nabcde\r\nZZ\r\n"))
    await asyncio.sleep(0.05)
    return False


async def _bad_chunk_later(w: asyncio.StreamWriter) -> bool:
    w.write(_answer("200 OK", ["transfer-encoding: chunked"], b"5\r\nabcde\r\n"))
    await w.drain()
    await asyncio.sleep(0.05)
    w.write(b"ZZ\r\n")
    await asyncio.sleep(0.05)
    return False


async def _no_content(w: asyncio.StreamWriter) -> bool:
    w.write(_answer("204 No Content", ["x-a: 1"], b""))
    return True


async def _teapot(w: asyncio.StreamWriter) -> bool:
    w.write(_answer("418 I'm a teapot", ["content-length: 2", "connection: close"], b"{}"))
    return False


SCRIPTS: dict[str, Script] = {
    "ok": _ok, "chunked": _chunked, "eof": _until_eof, "continue": _continue, "short": _short,
    "close": _close_before_head, "stall-head": _stall_head, "stall-body": _stall_body,
    "garbage": _garbage, "bad-chunk": _bad_chunk, "no-content": _no_content, "teapot": _teapot,
}  # fmt: skip


@contextlib.asynccontextmanager
async def scripted() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A server answering each request by the script its path names; the request bytes seen."""
    seen: list[bytes] = []

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await r.readuntil(b"\r\n\r\n")
                length = next(
                    (int(ln.split(b":")[1]) for ln in head.split(b"\r\n")
                     if ln.lower().startswith(b"content-length:")), 0,
                )  # fmt: skip
                seen.append(head + await r.readexactly(length))
                script = SCRIPTS[head.split(b" ")[1].decode().split("?")[0].strip("/")]
                keep = await script(w)
                await w.drain()
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.close()


async def _exchange(
    fwd: Forwarder, url: str, headers: list[tuple[str, str]], body: bytes, streamed: bool
) -> Any:
    try:
        response = await fwd.open("POST", url, headers, body)
    except ProxyError as err:
        return ("open failed", type(err).__name__, err.message)
    got: bytes | tuple[str, str, str]
    try:
        if streamed:
            got = b"".join([c async for c in Forwarder.chunks(response)])
        else:
            got = await Forwarder.read(response)
    except ProxyError as err:
        got = ("read failed", type(err).__name__, err.message)
    finally:
        await response.aclose()
    return (
        response.status_code,
        response.extensions.get("reason_phrase"),
        response.headers.raw,
        got,
    )


IDENTITY = [("accept-encoding", "identity")]
HEADERS = [
    ("content-type", "application/json"),
    ("authorization", "Bearer sk-test"),
    ("X-Mixed-Case", "Value"),
    ("x-dup", "1"),
    ("x-dup", "2"),
    ("accept-encoding", "identity"),
    ("x-forwarded-for", "10.0.0.1, 127.0.0.1"),
]


@pytest.mark.parametrize("streamed", [False, True])
async def test_a_body_that_stops_parsing_fails_its_read(streamed: bool) -> None:
    """(aiohttp's read waits forever here: no parity to keep.)"""
    async with scripted() as (base, _):
        SCRIPTS["bad-chunk-later"] = _bad_chunk_later
        fwd = Forwarder(timeout_s=5, connect_timeout_s=1)
        await fwd.start()
        try:
            got = await _exchange(fwd, f"{base}/bad-chunk-later", IDENTITY, b"{}", streamed)
        finally:
            await fwd.stop()
            del SCRIPTS["bad-chunk-later"]
    assert got[0] == 200
    assert got[3][:2] == ("read failed", "UpstreamUnreachable")


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("case", sorted(SCRIPTS))
async def test_the_lean_client_sends_and_answers_as_aiohttp_does(case: str, streamed: bool) -> None:
    results = []
    async with scripted() as (base, seen):
        for lean in (False, True):
            fwd = Forwarder(timeout_s=0.4, connect_timeout_s=1, lean=lean)
            await fwd.start()
            try:
                url = f"{base}/{case}?a=1&b=%20x"
                results.append(await _exchange(fwd, url, HEADERS, b'{"x": "\xc3\xa9"}', streamed))
                # the same again: on a kept connection where the answer allows it
                results.append(await _exchange(fwd, url, HEADERS, b"{}", streamed))
            finally:
                await fwd.stop()
        assert len(seen) == 4
        assert seen[:2] == seen[2:]  # the same request bytes
    assert results[:2] == results[2:]


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("accept", "text/event-stream")],
        [("Content-Type", "text/plain"), ("ACCEPT", "*/*")],
        [("x-unicode", "caf\u00e9")],
    ],
    ids=["none", "accept", "both", "utf-8"],
)
async def test_default_headers_are_added_as_aiohttp_adds_them(
    headers: list[tuple[str, str]],
) -> None:
    headers = [*headers, ("accept-encoding", "identity")]  # as the proxy always sends
    async with scripted() as (base, seen):
        for lean in (False, True):
            fwd = Forwarder(timeout_s=1, connect_timeout_s=1, lean=lean)
            await fwd.start()
            try:
                await _exchange(fwd, f"{base}/ok", headers, b"body", False)
            finally:
                await fwd.stop()
    assert seen[0] == seen[1]


async def test_refused_is_the_same_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1/chat/completions"
    got = []
    for lean in (False, True):
        fwd = Forwarder(timeout_s=1, connect_timeout_s=1, lean=lean)
        await fwd.start()
        try:
            got.append(await _exchange(fwd, url, HEADERS, b"{}", False))
        finally:
            await fwd.stop()
    assert got[0] == got[1]
    assert got[0][0] == "open failed"


def test_which_requests_it_takes() -> None:
    ident = [("accept-encoding", "identity")]
    assert Http1Pool.takes("POST", "http://b/v1/chat", ident, b"{}")
    for method, url, headers, body in [
        ("POST", "https://b/v1/chat", ident, b"{}"),  # TLS
        ("GET", "http://b/v1/models", ident, b""),
        ("POST", "http://b/v1/chat", ident, b""),  # no body
        ("POST", "http://b/v1/chat", [], b"{}"),  # aiohttp picks the encodings
        ("POST", "http://b/v1/chat", [*ident, ("Expect", "100-continue")], b"{}"),
        ("POST", "http://b/v1/chat", [*ident, ("host", "x")], b"{}"),
        ("POST", "http://b/v1/chat", [*ident, ("x-a", "1\r\nx-injected: 1")], b"{}"),
    ]:
        assert not Http1Pool.takes(method, url, headers, body), (method, url, headers)


async def test_a_kept_connection_is_reused_and_an_unread_one_is_not() -> None:
    async with scripted() as (base, seen):
        fwd = Forwarder(timeout_s=1, connect_timeout_s=1)
        await fwd.start()
        try:
            conns = []
            for _ in range(3):
                response = await fwd.open("POST", f"{base}/ok", IDENTITY, b"{}")
                assert isinstance(response.stream, LeanBody)
                conns.append(response.stream.conn)
                await Forwarder.read(response)
                await response.aclose()
            assert conns[0] is conns[1] is conns[2]
            response = await fwd.open("POST", f"{base}/chunked", IDENTITY, b"{}")
            assert isinstance(response.stream, LeanBody)
            unread = response.stream.conn
            await response.aclose()  # closed before the end: dropped
            assert unread is not None and unread.closed
        finally:
            await fwd.stop()
    assert len(seen) == 4


async def test_idle_connections_are_dropped_after_the_keepalive() -> None:
    pool = Http1Pool(connect_s=1, read_s=1, keepalive_s=0.05)
    async with scripted() as (base, _):
        response = await pool.open(f"{base}/ok", IDENTITY, b"{}")
        assert isinstance(response.stream, LeanBody)
        conn = response.stream.conn
        await response.stream.read()
        await response.aclose()
        assert conn is not None and not conn.closed
        for _ in range(100):
            if conn.closed:
                break
            await asyncio.sleep(0.01)
        assert conn.closed
    pool.close()


async def test_a_large_body_pauses_reading_until_consumed() -> None:
    big = b"x" * (1 << 20)

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        head = await r.readuntil(b"\r\n\r\n")
        await r.readexactly(int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0]))
        w.write(_answer("200 OK", [f"content-length: {len(big)}"], big))
        await w.drain()
        w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    fwd = Forwarder(timeout_s=1, connect_timeout_s=1)
    await fwd.start()
    try:
        response = await fwd.open("POST", f"http://127.0.0.1:{port}/x", IDENTITY, b"{}")
        assert isinstance(response.stream, LeanBody)
        await asyncio.sleep(0.1)
        conn = response.stream.conn
        assert conn is not None and conn.paused and conn.buffered < len(big)
        chunks = [c async for c in Forwarder.chunks(response)]
        assert b"".join(chunks) == big
        assert isinstance(response, httpx.Response)
    finally:
        await fwd.stop()
        server.close()


async def _answer_and_more(w: asyncio.StreamWriter) -> bool:
    # A whole second answer nobody asked for, in the same packet: a backend out of step
    # (or one that lets a client smuggle an answer) must not answer the next request.
    w.write(
        _answer("200 OK", ["content-length: 5"], b"first")
        + _answer("200 OK", ["content-length: 8", "x-smuggled: 1"], b"smuggled")
    )
    return True


@pytest.mark.parametrize("lean", [False, True], ids=["aiohttp", "lean"])
async def test_bytes_after_an_answer_are_never_read_as_the_next_answer(lean: bool) -> None:
    async with scripted() as (base, seen):
        SCRIPTS["and-more"] = _answer_and_more
        fwd = Forwarder(timeout_s=1, connect_timeout_s=1, lean=lean)
        await fwd.start()
        try:
            first = await _exchange(fwd, f"{base}/and-more", IDENTITY, b"{}", False)
            second = await _exchange(fwd, f"{base}/ok", IDENTITY, b"{}", False)
        finally:
            await fwd.stop()
            del SCRIPTS["and-more"]
    assert first[0] == 200 and first[3] == b"first"
    assert second[0] == 200 and second[3] == b'{"ok": 1}\r\n'
    assert len(seen) == 2  # the second request reached the server and got its own answer
