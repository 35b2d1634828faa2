"""`durability=wal`: a proxy SIGKILLed under load loses no event acknowledged to a client.

A real `python -m proxy` on the real broker takes concurrent traffic; every answered
request carries a unique id (`x-modeltrail-request-id`). The proxy is killed with -9
in the middle, restarted on the same spool directory, and every request answered
200 must have its request and its response event on the topics. The drain is made
slow (`emit_gather_ms`) so events certainly sit in the queue when the kill lands:
with `durability=memory` the same run loses them.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx

from modeltrail.embedded.process import ManagedProcess, free_port, port_open
from schemas.events import EventEnvelope, LLMRequest, LLMResponse
from schemas.settings import KafkaSettings
from tests.support.proxy_harness import collect

CLIENTS = 8


def _proxy(kafka: KafkaSettings, backend: str, tmp_path: Path, port: int, n: int) -> ManagedProcess:
    control = free_port()
    env = {
        "MODELTRAIL_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "MODELTRAIL_KAFKA__TOPIC_PREFIX": kafka.topic_prefix,
        "MODELTRAIL_PROXY__HOST": "127.0.0.1",
        "MODELTRAIL_PROXY__PORT": str(port),
        "MODELTRAIL_PROXY__CONTROL_PORT": str(control),
        "MODELTRAIL_PROXY__SPOOL_DIR": str(tmp_path / "spool"),
        "MODELTRAIL_PROXY__BACKENDS": json.dumps([{"name": "fake", "url": backend}]),
        "MODELTRAIL_PROXY__DEFAULT_BACKEND": "fake",
        "MODELTRAIL_PROXY__DURABILITY": "wal",
        "MODELTRAIL_PROXY__EMIT_GATHER_MS": "400",
        "MODELTRAIL_PROXY__INLINE_POLICY": "false",
        "MODELTRAIL_PROXY__CLIENT_AUTH": "none",  # durability is under test, not identity
    }
    return ManagedProcess(
        "proxy",
        [sys.executable, "-m", "proxy"],
        log_path=tmp_path / f"proxy-{n}.log",
        ready=lambda: port_open("127.0.0.1", port) and port_open("127.0.0.1", control),
        env=env,
    ).start()


async def _load(url: str, acked: list[str], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=5) as client:

        async def one(c: int) -> None:
            i = 0
            while not stop.is_set():
                try:
                    resp = await client.post(
                        url,
                        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
                        headers={"x-session-id": f"wal-{c}"},
                    )
                except httpx.HTTPError:
                    return  # the proxy died: this client's answered requests are counted
                if resp.status_code == 200:
                    acked.append(resp.headers["x-modeltrail-request-id"])
                i += 1

        await asyncio.gather(*(one(c) for c in range(CLIENTS)))


async def test_sigkill_under_load_loses_no_acknowledged_event(
    kafka_settings: KafkaSettings, fake_backend_url: str, tmp_path: Path
) -> None:
    # Every round must lose nothing. At least one must have caught events in memory: on a
    # loaded machine the load can stall long enough before the kill that the drain has
    # caught up, and such a round proves nothing about recovery, so another one is run.
    for n in range(3):
        if await _kill_and_restart(kafka_settings, fake_backend_url, tmp_path / f"round-{n}"):
            return
    raise AssertionError("no SIGKILL in 3 rounds caught an event in memory (wal_recovered)")


async def _kill_and_restart(kafka: KafkaSettings, backend: str, tmp_path: Path) -> bool:
    """One round: load, SIGKILL, restart; asserts nothing acknowledged was lost.

    Returns whether the restarted proxy recovered events from its write-ahead log.
    """
    port = free_port()  # the proxy's log and spool directories are made by the process start
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    proxy = _proxy(kafka, backend, tmp_path, port, 0)
    acked: list[str] = []
    stop = asyncio.Event()
    load = asyncio.create_task(_load(url, acked, stop))
    try:
        while len(acked) < 150:
            assert not load.done(), "the load ended before the kill"
            await asyncio.sleep(0.02)
        proxy.kill()  # SIGKILL: nothing is drained
        stop.set()
        await asyncio.wait_for(load, 10)
    finally:
        stop.set()
        proxy.stop()
    killed_at = len(acked)
    restarted = _proxy(kafka, backend, tmp_path, port, 1)
    try:
        want = set(acked)
        topics = [kafka.topics.requests, kafka.topics.responses]

        def complete(events: list[EventEnvelope]) -> bool:
            return want <= _ids(events, LLMRequest) and want <= _ids(events, LLMResponse)

        events = await collect(kafka, topics, complete, timeout_s=30)
    finally:
        assert restarted.stop() == 0, restarted.tail()
    lost_requests = want - _ids(events, LLMRequest)
    lost_responses = want - _ids(events, LLMResponse)
    assert not lost_requests and not lost_responses, (
        f"{killed_at} acknowledged, lost {len(lost_requests)} request and "
        f"{len(lost_responses)} response events"
    )
    return "wal_recovered" in (tmp_path / "proxy-1.log").read_text()


def _ids(events: list[EventEnvelope], kind: type[EventEnvelope]) -> set[str]:
    return {e.request_id or "" for e in events if isinstance(e, kind)}
