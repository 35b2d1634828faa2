"""Proxy overhead: direct-to-backend vs through one proxy process, auditing on.

Starts a Tansu broker, the fake backend (zero delay) and `python -m proxy` (one
uvicorn worker, events to Kafka, enforcement following the command topic), then
measures from separate load-generator processes:

1. added latency at concurrency 1: direct and proxied requests interleaved;
2. maximum throughput through the proxy (and directly): `wrk` when installed,
   else a closed-loop load of raw keep-alive connections spread over processes;
3. added p99 at a fixed offered load of half the proxy's maximum (open loop,
   latency measured from each request's scheduled start, so a stall counts for
   every request it delays). One generator process alternates short windows
   between the proxy and the backend, so background load on a shared machine
   hits both alike; each window runs until its last answer is in.

The 2-core machine is shared: the detail line carries the load average and the
share of the half-load phase the proxy spent runnable but waiting for a CPU
(`half_load_proxy_runq_wait`), which is what a tail of seconds means here.

The request is realistic (a ~1 KB system prompt and a ~2 KB user message, its
size reported as `prompt_bytes`), and the proxy runs with the inline policy check
on (the standard preset; `--preset` picks another). Every request of a run is a
new session (`X-Session-ID` per connection and request) with a user message no
request had before (a ticket number), so the inline check judges the user message
every time: a session's memory of judged parts does not flatter it. The system
prompt is the same in every request, as an agent's is; the proxy judges it once
while it stays quiet (`proxy.judged_quiet_parts`; `--no-quiet-parts` turns that
off to measure judging both parts every time).

With `--wal` (default) it also measures the cost of `durability=wal`: a second proxy with
the write-ahead log on, interleaved with the first at concurrency 1 (`wal_added_p50_ms`:
its p50 minus the `memory` proxy's p50).

`--json` prints one JSON line last: {"added_p50_ms", "added_p99_ms",
"loaded_added_p99_ms", "rps_per_core", "direct_rps", "prompt_bytes", "inline_policy",
"wal_added_p50_ms", "tracing_added_p50_ms"}.

With `--tracing` (default) a third proxy exports OpenTelemetry spans over OTLP/HTTP to a
receiver in this process (it answers every export at once); `tracing_added_p50_ms` is its
p50 minus the untraced proxy's, interleaved at concurrency 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.server
import json
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from loadgen import (
    BODY,
    CLIENT_KEY,
    _run_interleaved,
    cpu_seconds,
    max_rps,
    open_loop,
    pct,
)

from modeltrail.embedded.process import ManagedProcess, free_port, port_open
from modeltrail.embedded.servers import tansu_broker

#: The proxies' key secret; the bench key (`loadgen.CLIENT_KEY`) is registered under it.
KEY_SECRET = "bench-key-secret"


@contextlib.contextmanager
def otlp_receiver() -> Iterator[str]:
    """A local OTLP/HTTP traces endpoint that accepts every export (its URL)."""

    class Accept(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Accept)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    finally:
        server.shutdown()


# ---- the stack -------------------------------------------------------------------


def start_proxy(
    workdir: Path, broker: str, backend: str, name: str = "proxy", **extra_env: str
) -> tuple[ManagedProcess, str]:
    """`python -m proxy` on `broker` in front of `backend`; its process and URL."""
    pport, cport = free_port(), free_port()
    env = {
        "MODELTRAIL_KAFKA__BOOTSTRAP_SERVERS": broker,
        "MODELTRAIL_KAFKA__TOPIC_PREFIX": "bench.",
        "MODELTRAIL_PROXY__HOST": "127.0.0.1",
        "MODELTRAIL_PROXY__PORT": str(pport),
        "MODELTRAIL_PROXY__CONTROL_PORT": str(cport),
        "MODELTRAIL_PROXY__SPOOL_DIR": str(workdir / name / "spool"),
        "MODELTRAIL_PROXY__BACKENDS": json.dumps([{"name": "fake", "url": backend}]),
        "MODELTRAIL_PROXY__DEFAULT_BACKEND": "fake",
        # Client keys on: the bench key is on `identity.keys` before the proxy replays it.
        "MODELTRAIL_PROXY__CLIENT_AUTH": "keys",
        "MODELTRAIL_PROXY__KEY_SECRET": KEY_SECRET,
        **extra_env,
    }
    asyncio.run(register_key(broker))
    proxy = ManagedProcess(
        name,
        [sys.executable, "-m", "proxy"],
        log_path=workdir / f"{name}.log",
        ready=lambda: port_open("127.0.0.1", pport) and port_open("127.0.0.1", cport),
        env=env,
    ).start()
    return proxy, f"http://127.0.0.1:{pport}"


def policy_env(preset: str = "standard", inline: bool = True, quiet: bool = True) -> dict[str, str]:
    """The inline policy of every proxy in the run (the classifier runs through the preset)."""
    env = {
        "MODELTRAIL_PROXY__INLINE_POLICY": "true" if inline else "false",
        "MODELTRAIL_PROXY__POLICY_PRESET": preset,
    }
    if not quiet:
        env["MODELTRAIL_PROXY__JUDGED_QUIET_PARTS"] = "0"
    return env


def start_stack(
    workdir: Path, preset: str = "standard", inline: bool = True, quiet: bool = True
) -> tuple[list[ManagedProcess], str, str]:
    broker = tansu_broker(None, workdir / "broker.log").start()
    bport = free_port()
    backend = ManagedProcess(
        "fake-backend",
        [sys.executable, "-m", "modeltrail.embedded.fake_backend", "--port", str(bport)],
        log_path=workdir / "backend.log",
        ready=lambda: port_open("127.0.0.1", bport),
    ).start()
    direct = f"http://127.0.0.1:{bport}"
    proxy, proxied = start_proxy(
        workdir, broker.address, direct, **policy_env(preset, inline, quiet)
    )
    return [proxy, backend, broker], direct, proxied


async def register_key(bootstrap: str) -> None:
    """Put the bench's client key on `identity.keys` before the proxy replays it."""
    from proxy.keys.local import LocalKey, register_local_key
    from schemas.kafka import ensure_topics
    from schemas.settings import KafkaSettings

    kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix="bench.")
    await ensure_topics(kafka)
    await register_local_key(
        kafka, KEY_SECRET.encode(), LocalKey("mk_0000000000000b0c", CLIENT_KEY)
    )


def proxy_stats(workdir: Path) -> str:
    log = (workdir / "proxy.log").read_text(errors="replace")
    lines = [ln for ln in log.splitlines() if "emitter_stopped" in ln]
    return lines[-1] if lines else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the result as one JSON line last")
    ap.add_argument("--pairs", type=int, default=2000, help="interleaved pairs at concurrency 1")
    ap.add_argument("--seconds", type=float, default=8.0, help="duration of each load phase")
    ap.add_argument("--conc", type=int, default=64, help="connections for the throughput phase")
    ap.add_argument("--procs", type=int, default=2, help="load-generator processes")
    ap.add_argument("--windows", type=int, default=8, help="half-load windows per target")
    ap.add_argument("--preset", default="standard", help="inline policy preset of the proxy")
    ap.add_argument(
        "--no-inline", action="store_true", help="turn the proxy's inline policy check off"
    )
    ap.add_argument(
        "--quiet-parts",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="let the proxy skip parts it judged quiet before (the shared system prompt)",
    )
    ap.add_argument(
        "--wal",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure durability=wal against memory (wal_added_p50_ms)",
    )
    ap.add_argument(
        "--tracing",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure OpenTelemetry tracing on (to a local OTLP receiver) against off "
        "(tracing_added_p50_ms)",
    )
    ap.add_argument(
        "--nice",
        type=int,
        default=0,
        help="raise the priority of the bench and everything it starts by N (root only): "
        "measures the proxy rather than the neighbours on a shared machine",
    )
    args = ap.parse_args()
    if args.nice:
        os.nice(-args.nice)  # inherited by the broker, backend, proxy and load generators

    workdir = Path(tempfile.mkdtemp(prefix="mt-bench-"))
    procs, direct, proxied = start_stack(workdir, args.preset, not args.no_inline, args.quiet_parts)
    try:
        with mp.get_context("spawn").Pool(1) as pool:
            d, p = pool.apply(_run_interleaved, ((direct, proxied, args.pairs),))
            wal_added_p50 = None
            if args.wal:
                broker = procs[2].address  # type: ignore[attr-defined]
                wal, wal_url = start_proxy(
                    workdir,
                    broker,
                    direct,
                    "proxy-wal",
                    MODELTRAIL_PROXY__DURABILITY="wal",
                    **policy_env(args.preset, not args.no_inline, args.quiet_parts),
                )
                try:
                    m, w = pool.apply(_run_interleaved, ((proxied, wal_url, args.pairs),))
                finally:
                    wal.stop()
                wal_added_p50 = round(statistics.median(w) - statistics.median(m), 3)
            tracing_added_p50 = None
            if args.tracing:
                broker = procs[2].address  # type: ignore[attr-defined]
                with otlp_receiver() as endpoint:
                    traced, traced_url = start_proxy(
                        workdir,
                        broker,
                        direct,
                        "proxy-traced",
                        MODELTRAIL_PROXY__TRACING__ENABLED="true",
                        MODELTRAIL_PROXY__TRACING__ENDPOINT=endpoint,
                        **policy_env(args.preset, not args.no_inline, args.quiet_parts),
                    )
                    try:
                        m, t = pool.apply(_run_interleaved, ((proxied, traced_url, args.pairs),))
                    finally:
                        traced.stop()
                tracing_added_p50 = round(statistics.median(t) - statistics.median(m), 3)
        added_p50 = statistics.median(p) - statistics.median(d)
        added_p99 = pct(p, 99) - pct(d, 99)
        pid = procs[0].pid
        assert pid is not None
        cpu0, wall0 = cpu_seconds(pid), time.perf_counter()
        proxy_rps = max_rps(proxied, args.seconds, args.conc, args.procs)
        cpu_used = cpu_seconds(pid) - cpu0
        wall = time.perf_counter() - wall0
        # Requests per CPU-second of the proxy process: what one core delivers, robust
        # to other load on a shared machine (the wall figure is reported beside it).
        rps_per_core = proxy_rps * args.seconds / cpu_used if cpu_used > 0 else proxy_rps
        direct_rps = max_rps(direct, args.seconds, args.conc, args.procs)
        rate = proxy_rps / 2
        load_before = os.getloadavg()[0]
        loaded = open_loop((proxied, direct), rate, args.seconds, args.windows, pid)
        lp, ld = loaded.lat[proxied], loaded.lat[direct]
        loaded_added_p99 = pct(lp, 99) - pct(ld, 99)
    finally:
        for proc in procs:
            proc.stop()
    detail = {
        "c1_direct_p50_ms": round(statistics.median(d), 3),
        "c1_proxied_p50_ms": round(statistics.median(p), 3),
        "c1_direct_p99_ms": round(pct(d, 99), 3),
        "c1_proxied_p99_ms": round(pct(p, 99), 3),
        "proxy_max_rps_wall": round(proxy_rps, 1),
        "proxy_cpu_share_at_max": round(cpu_used / wall, 2),
        "half_load_rps": round(rate, 1),
        "half_load_direct_p99_ms": round(pct(ld, 99), 3),
        "half_load_proxied_p99_ms": round(pct(lp, 99), 3),
        "half_load_proxied_p50_ms": round(statistics.median(lp), 3),
        "half_load_errors": loaded.errors,
        "half_load_generator_lag_p99_ms": round(pct(loaded.lag, 99), 3),
        # Shares of the proxy's own half-load windows: on a CPU, and runnable but waiting.
        "half_load_proxy_cpu_share": round(loaded.proxy_cpu / loaded.proxy_wall, 2),
        "half_load_proxy_runq_wait": round(loaded.proxy_wait / loaded.proxy_wall, 2),
        "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "nice": -args.nice,
        "load_tool": "wrk" if shutil.which("wrk") else "raw-asyncio",
        "cpus": os.cpu_count(),
        "emitter": proxy_stats(workdir),
    }
    result = {
        "added_p50_ms": round(added_p50, 3),
        "added_p99_ms": round(added_p99, 3),
        "loaded_added_p99_ms": round(loaded_added_p99, 3),
        "rps_per_core": round(rps_per_core, 1),
        "direct_rps": round(direct_rps, 1),
        "prompt_bytes": len(BODY),
        "inline_policy": "off" if args.no_inline else args.preset,
        "wal_added_p50_ms": wal_added_p50,
        "tracing_added_p50_ms": tracing_added_p50,
    }
    if args.json:
        print(json.dumps(detail))
        print(json.dumps(result))
    else:
        for k, v in {**detail, **result}.items():
            print(f"{k:>28}: {v}")


if __name__ == "__main__":
    main()
