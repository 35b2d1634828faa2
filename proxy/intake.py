"""Reading a request body: parse it, extract its parts, and keep large ones off the event loop.

`read_body` is pure: the JSON (a known API needs it, 400 otherwise), or for a
path no dialect claims under `passthrough: inspect` the JSON, else the text,
else (binary) nothing; then the dialect's parts and facts (`proxy.dialects`).

Large bodies: parsing 10 MB of JSON holds the GIL for tens of milliseconds
(orjson measured 45-90 ms on the shared 2-core machine), so a thread alone
does not keep the loop free. `BodyWorker` does the whole reading and the
judging in one worker process and sends back only what the proxy needs: the
body's small top-level fields (routing, session identity), the facts, the
parts capped for capture, every part's key and the findings. The worker loads
the same policy (preset and files) and answers `findings=None` when its
version is not the proxy's (a custom engine, a file changed but not reloaded);
the caller then judges itself.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import orjson

from proxy.capture import cap_parts
from proxy.dialects import RequestFacts, extract
from proxy.errors import BadRequest, BodyTooLarge, PolicyBlocked
from proxy.inline_policy import InlinePolicy
from proxy.settings import ProxySettings
from schemas.events import ChatMessage, LLMRequest, Provider
from streams.policy import Finding, PolicyEngine, SessionContext, load_policy
from streams.policy.turns import part_key

if TYPE_CHECKING:
    from proxy.relay import Receive

__all__ = ["BodyReading", "BodyWorker", "Intake", "Passthrough", "Reading", "read_body"]

Passthrough = Literal["inspect", "deny", "allow"]
_HEAD_KEYS = ("model", "user", "stream")
_T = TypeVar("_T")


def read_body(
    provider: Provider, path: str, body: bytes, passthrough: Passthrough
) -> tuple[Any, list[ChatMessage], RequestFacts]:
    """(parsed body, parts, facts); raises BadRequest when a known API's body is not JSON."""
    parsed: Any = None
    if body and provider != "passthrough":
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"request body is not valid JSON: {exc.msg}") from exc
    elif body and passthrough == "inspect":
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            try:
                parsed = body.decode("utf-8")
            except UnicodeDecodeError:
                parsed = None
    parts, facts = extract(provider, path, parsed)
    return parsed, parts, facts


@dataclass(frozen=True, slots=True)
class BodyReading:
    """What the worker read from one large body (small: it crosses a process boundary)."""

    head: dict[str, Any]  # model, user, stream, metadata.user_id: routing and identity
    parts: list[ChatMessage]  # capped for capture
    truncated: bool
    facts: RequestFacts
    keys: list[bytes]  # of every part, uncapped
    findings: list[Finding] | None  # None: not judged (policy off, or another version)
    error: str | None = None  # the body is not valid JSON for a known API


def _head(parsed: Any) -> dict[str, Any]:
    if not isinstance(parsed, dict):
        return {}
    head = {k: parsed[k] for k in _HEAD_KEYS if isinstance(parsed.get(k), str | bool)}
    meta = parsed.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("user_id"), str):
        head["metadata"] = {"user_id": meta["user_id"][:1024]}
    return head


_engines: dict[tuple[str, tuple[str, ...]], PolicyEngine] = {}


def _engine(preset: str, files: tuple[str, ...], version: str) -> PolicyEngine | None:
    key = (preset, files)
    engine = _engines.get(key)
    if engine is None or engine.version != version:
        engine = _engines[key] = load_policy(preset, [Path(f) for f in files])
    return engine if engine.version == version else None


def _read_and_judge(
    provider: Provider,
    path: str,
    body: bytes,
    passthrough: Passthrough,
    max_chars: int,
    policy: tuple[str, tuple[str, ...], str] | None,
) -> BodyReading:
    """The worker's job; `policy` is (preset, files, version) or None: don't judge."""
    try:
        parsed, parts, facts = read_body(provider, path, body, passthrough)
    except BadRequest as exc:
        return BodyReading({}, [], False, RequestFacts(), [], None, exc.message)
    findings: list[Finding] | None = None
    if policy is not None and parts:
        preset, files, version = policy
        engine = _engine(preset, files, version)
        if engine is not None:
            from proxy.capture import build_request  # the event the rules see

            event = build_request(
                source="worker", session_id="-", request_id="-", backend="-",
                provider=provider, method="POST", path=path, body=parsed, body_bytes=len(body),
                client_ip=None, user_agent=None, key_fp=None, policy="all",
                max_chars=len(body) + 1, extracted=(parts, facts),
            )  # fmt: skip
            ctx = SessionContext(session_id="-", now=event.time)
            findings = engine.evaluate(event, ctx)
    capped, truncated = cap_parts(parts, max_chars)
    keys = [part_key(m) for m in parts]
    return BodyReading(_head(parsed), capped, truncated, facts, keys, findings)


class BodyWorker:
    """One worker process reading and judging large bodies (started on first use)."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _run(self, *args: Any) -> BodyReading:
        # On a helper thread: launching the process, pickling the body and writing it to
        # the worker's pipe all happen here, none of it on the event loop.
        with self._lock:
            if self._pool is None:
                ctx = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=ctx)
            pool = self._pool
        return pool.submit(_read_and_judge, *args).result()

    async def read(
        self,
        provider: Provider,
        path: str,
        body: bytes,
        passthrough: Passthrough,
        max_chars: int,
        policy: tuple[str, tuple[str, ...], str] | None,
    ) -> BodyReading:
        """Read (and judge, when `policy` = (preset, files, version)) one body in the worker."""
        args = (provider, path, body, passthrough, max_chars, policy)
        return await asyncio.to_thread(self._run, *args)

    def stop(self) -> None:
        """Stop the worker process (idempotent)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class Reading:
    """A request body as read: parsed JSON (or text), the dialect's parts and facts."""

    parsed: Any  # the whole body, or only its small top-level fields when read by the worker
    parts: list[ChatMessage]
    facts: RequestFacts
    truncated: bool = False  # parts capped for capture already (worker)
    keys: list[bytes] | None = None  # every part's `part_key` (worker)
    findings: list[Finding] | None = None  # judged by the worker under policy `version`
    version: str | None = None


class Intake:
    """How the app reads and judges request bodies; small ones inline, large ones off the loop.

    Owns the worker process (`BodyWorker`) and one judging thread for the rare
    case the worker could not judge; `stop` ends both.
    """

    def __init__(self, policy: InlinePolicy, settings: ProxySettings) -> None:
        self._policy = policy
        self._passthrough: Passthrough = settings.passthrough
        self._offload_bytes = settings.inline_offload_bytes
        self._cap = settings.capture_max_bytes
        self._max_body = settings.max_body_bytes
        self._worker = BodyWorker()
        self._pool: ThreadPoolExecutor | None = None

    def stop(self) -> None:
        """Stop the worker process and the judging thread (idempotent)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)
        self._worker.stop()

    async def receive(self, headers: dict[str, str], receive: Receive) -> bytes:
        """The whole body of the ASGI request; BodyTooLarge past `max_body_bytes`."""
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self._max_body:
            raise BodyTooLarge(f"request body over the {self._max_body}-byte limit")
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                break
            chunk = msg.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > self._max_body:
                    raise BodyTooLarge(f"request body over the {self._max_body}-byte limit")
                chunks.append(chunk)
            if not msg.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def read(self, provider: Provider, path: str, body: bytes) -> Reading:
        """Parse the body and extract its parts; a large one in the worker process, judged there.

        Raises BadRequest when a known API's body is not JSON.
        """
        if len(body) <= self._offload_bytes:
            return Reading(*read_body(provider, path, body, self._passthrough))
        policy = self._policy.worker_policy()
        got = await self._worker.read(provider, path, body, self._passthrough, self._cap, policy)
        if got.error is not None:
            raise BadRequest(got.error)
        version = policy[2] if policy is not None and got.findings is not None else None
        return Reading(
            got.head, got.parts, got.facts, got.truncated, got.keys, got.findings, version
        )

    async def judge(self, req: LLMRequest, read: Reading, body: bytes) -> PolicyBlocked | None:
        """The inline check: the error answering `req` when the policy blocks it, else None."""
        if not self._policy.enabled:
            return None
        now = req.time
        if read.keys is not None:  # read by the worker process
            if not read.keys:
                return None
            if read.findings is not None and read.version is not None:
                pending = self._policy.judged_elsewhere(req, read.keys, read.version, now)
                if pending is not None:
                    return self._policy.conclude(pending, read.findings)
            # The worker could not judge (another policy version): judge here, off the loop.
            _, parts, _ = await self._off_loop(
                read_body, req.provider, req.path, body, self._passthrough
            )
            pending = self._policy.prepare(req, None, now, parts, read.keys)
            if pending is None:
                return None
            findings = await self._off_loop(InlinePolicy.evaluate, pending)
            return self._policy.conclude(pending, findings)
        pending = self._policy.prepare(req, read.parsed, now, read.parts, read.keys)
        if pending is None:
            return None
        return self._policy.conclude(pending, InlinePolicy.evaluate(pending))

    async def _off_loop(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run CPU work on the judging thread so the event loop keeps serving others."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mt-judge")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
