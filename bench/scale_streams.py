"""Live-stream part of `bench/scale.py`: how many SSE streams one proxy process holds.

A Tansu broker, the fake backend and `python -m proxy` run as separate processes;
this process opens `n` streaming chat completions through the proxy (aiohttp, no
connection limit), each lasting about `seconds`, and counts how many were open at
once. Every stream's text is checked against the reply the fake was told to send.
Not a test module.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aiohttp

from modeltrail.embedded.process import ManagedProcess, free_port, port_open
from modeltrail.embedded.servers import tansu_broker
from schemas.kafka import ensure_topics
from schemas.settings import KafkaSettings

CHUNKS = 8
REPLY = "one two three four five six seven eight"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _fake_backend_module() -> str:
    for name in ("modeltrail.embedded.fake_backend", "proxy.fake_backend"):
        try:
            __import__(name)
        except ImportError:
            continue
        return name
    raise RuntimeError("no fake backend module")


class _Live:
    def __init__(self) -> None:
        self.open = 0
        self.peak = 0
        self.ok = 0
        self.bad = 0


async def _one(http: aiohttp.ClientSession, url: str, i: int, delay_ms: int, live: _Live) -> None:
    body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    headers = {
        "x-session-id": f"live-{i}",
        "x-fake-reply": REPLY,
        "x-fake-chunks": str(CHUNKS),
        "x-fake-chunk-delay-ms": str(delay_ms),
    }
    opened = False
    text = []
    try:
        async with http.post(url, json=body, headers=headers) as resp:
            if resp.status != 200:
                live.bad += 1
                return
            async for line in resp.content:
                if not opened:
                    opened = True
                    live.open += 1
                    live.peak = max(live.peak, live.open)
                if line.startswith(b"data: {"):
                    delta = json.loads(line[6:])["choices"][0]["delta"]
                    text.append(delta.get("content") or "")
        if "".join(text) == REPLY:
            live.ok += 1
        else:
            live.bad += 1
    except (aiohttp.ClientError, OSError, TimeoutError):
        live.bad += 1
    finally:
        if opened:
            live.open -= 1


async def measure_streams(n: int, tmp: Path, seconds: float) -> dict[str, object]:
    """Open `n` streams at once through one proxy; the peak count and memory per stream."""
    broker = tansu_broker(None, tmp / "broker.log").start()
    kafka = KafkaSettings(bootstrap_servers=broker.address, topic_prefix="scale.")  # type: ignore[attr-defined]
    await ensure_topics(kafka)
    backend_port, port, control = free_port(), free_port(), free_port()
    backend = ManagedProcess(
        "fake-backend",
        [sys.executable, "-m", _fake_backend_module(), "--port", str(backend_port)],
        log_path=tmp / "backend.log",
        ready=lambda: port_open("127.0.0.1", backend_port),
    ).start()
    env = {
        "MODELTRAIL_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "MODELTRAIL_KAFKA__TOPIC_PREFIX": kafka.topic_prefix,
        "MODELTRAIL_PROXY__PORT": str(port),
        "MODELTRAIL_PROXY__CONTROL_PORT": str(control),
        "MODELTRAIL_PROXY__SPOOL_DIR": str(tmp / "spool"),
        "MODELTRAIL_PROXY__CONTROL_KEY_FILE": str(tmp / "control.key"),
        "MODELTRAIL_SIGNING__KEY_FILE": str(tmp / "command-keys.json"),
        "MODELTRAIL_PROXY__BACKENDS": json.dumps(
            [{"name": "fake", "url": f"http://127.0.0.1:{backend_port}"}]
        ),
        "MODELTRAIL_PROXY__DEFAULT_BACKEND": "fake",
        "MODELTRAIL_PROXY__INLINE_POLICY": "false",
    }
    proxy = ManagedProcess(
        "proxy",
        [sys.executable, "-m", "proxy"],
        log_path=tmp / "proxy.log",
        ready=lambda: port_open("127.0.0.1", port) and port_open("127.0.0.1", control),
        env=env,
    ).start()
    try:
        assert proxy.proc is not None
        pid = proxy.proc.pid
        await asyncio.sleep(2)
        idle_rss = _rss_mb(pid)
        live = _Live()
        delay_ms = int(seconds * 1000 / CHUNKS)
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=60, sock_read=seconds + 60)
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            tasks = []
            for i in range(n):
                tasks.append(asyncio.create_task(_one(http, url, i, delay_ms, live)))
                if i % 200 == 199:
                    await asyncio.sleep(0.05)  # a ramp, not a SYN flood
            peak_rss = idle_rss
            while any(not t.done() for t in tasks):
                await asyncio.sleep(0.5)
                peak_rss = max(peak_rss, _rss_mb(pid))
            await asyncio.gather(*tasks)
        per_stream = (peak_rss - idle_rss) * 1024 / max(live.peak, 1)
        return {
            # every stream counted open got its exact reply; failures (refused at the
            # descriptor limit) never opened
            "max_live_streams": live.peak if live.ok >= live.peak else 0,
            "live_streams_peak_seen": live.peak,
            "streams_ok": live.ok,
            "streams_failed": live.bad,
            "kb_per_live_stream": round(per_stream, 1),
            "proxy_rss_idle_mb": round(idle_rss, 1),
            "proxy_rss_peak_mb": round(peak_rss, 1),
        }
    finally:
        proxy.stop()
        backend.stop()
        broker.stop()
