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
new session (`X-Session-ID` per connection and request), so the inline check
judges every part every time: the memory of judged parts does not flatter it.

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
import itertools
import json
import multiprocessing as mp
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import uvloop

from modeltrail.embedded.process import ManagedProcess, free_port, port_open
from modeltrail.embedded.servers import tansu_broker

# A realistic request (issue 9): a ~1 KB system prompt and a ~2 KB user message, so the
# cost of judging it inline is part of what is measured. Written for this bench.
SYSTEM_PROMPT = (
    "You are Atlas, the engineering assistant of a mid-sized logistics company. You help "
    "developers read, review and write Python and SQL for the routing, billing and "
    "warehouse services. Answer in the language of the question. Prefer short, correct "
    "answers with a runnable example over long explanations. When you are not sure an API "
    "exists, say so and suggest how to check it in the documentation. Follow the team's "
    "conventions: type hints everywhere, pytest for tests, ruff for formatting, dataclasses "
    "for plain records, no global state, structured logging with stable event names. Never "
    "invent configuration keys, database columns or environment variables: ask for the "
    "schema when you need it. Keep secrets out of examples; use placeholders such as "
    "<API_KEY>. When reviewing code, list the problems by severity, then propose a patch. "
    "When asked about performance, ask for measurements before suggesting changes, and "
    "explain the trade-off of each suggestion in one sentence. Use UTC for all times."
)
USER_MESSAGE = (
    "Our nightly billing job got slower after last week's release and now takes about "
    "forty minutes instead of ten. Here is the function that changed:\n\n"
    "def invoice_totals(conn, day):\n"
    "    rows = conn.execute(\n"
    "        'SELECT customer_id, amount_cents, currency FROM shipments WHERE day = %s',\n"
    "        (day,),\n"
    "    ).fetchall()\n"
    "    totals = {}\n"
    "    for customer_id, amount, currency in rows:\n"
    "        rate = conn.execute(\n"
    "            'SELECT rate FROM fx_rates WHERE currency = %s AND day = %s',\n"
    "            (currency, day),\n"
    "        ).fetchone()[0]\n"
    "        totals[customer_id] = totals.get(customer_id, 0) + amount * rate\n"
    "    return totals\n\n"
    "The shipments table has about two million rows per day, an index on (day), and "
    "fx_rates has one row per currency and day with a primary key on (currency, day). "
    "The previous version read the rates once into a dictionary before the loop, but a "
    "colleague changed it because rates can be corrected during the day and the job must "
    "use the latest value. We run PostgreSQL 15 and psycopg 3. Could you explain why this "
    "is slow, propose a version that keeps the latest-rate behaviour, and show how to "
    "test it with pytest against a small fixture database? Also, is there a way to do the "
    "whole aggregation in SQL so that only one row per customer comes back to Python? "
    "We would like to keep the function signature unchanged because three other jobs "
    "call it, and we need the result in cents as integers, rounded half to even, since "
    "finance reconciles these totals against the ledger every morning and even a one "
    "cent difference opens a ticket. For context, the job runs in a Kubernetes CronJob "
    "with 2 CPU and 4 GiB of memory, connects through PgBouncer in transaction mode, and "
    "its logs show most of the time spent waiting on the database rather than in Python. "
    "The fx_rates table is small (a few thousand rows) but it is updated by another "
    "service during the run, so we cannot simply cache it for the whole night either. "
    "If a temporary table or a CTE is the better tool here, please say which and why. Thanks!"
)
BODY = json.dumps(
    {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": USER_MESSAGE},
        ],
    }
).encode()
PATH = "/v1/chat/completions"
#: Client keys are on: a fixed, well-formed key the spawned load generators can send too.
CLIENT_KEY = "mt-bench" + "0" * 38
KEY_SECRET = "bench-key-secret"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


# ---- load generators (run in child processes) ---------------------------------
# A minimal keep-alive HTTP/1.1 client on raw asyncio streams and uvloop: a small
# fraction of aiohttp's CPU per request, so the generator does not starve the proxy
# of the shared cores and its own cost stays out of the measured difference.


class RawConn:
    """One keep-alive connection sending a pre-encoded POST, each as a new session."""

    _sessions = itertools.count()

    def __init__(self, url: str) -> None:
        hostport = url.split("://", 1)[1]
        host, _, port = hostport.partition(":")
        self.addr = (host, int(port))
        self.head = (
            f"POST {PATH} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {CLIENT_KEY}\r\nContent-Length: {len(BODY)}\r\n"
        ).encode()
        self.tag = f"{os.getpid()}-{id(self):x}-".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def call(self) -> int:
        """Send the request, read the whole answer; return the status.

        Like any keep-alive client, a connection the server closed while it sat
        idle (uvicorn: after 5 s) is replaced; the reconnect counts in the latency.
        """
        if self.reader is not None and self.reader.at_eof():
            assert self.writer is not None
            self.writer.close()
            self.reader = self.writer = None
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(*self.addr)
        assert self.reader is not None
        session = self.tag + str(next(self._sessions)).encode()
        self.writer.write(self.head + b"X-Session-ID: " + session + b"\r\n\r\n" + BODY)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lower = head.lower()
        i = lower.find(b"content-length:")
        if i >= 0:
            await self.reader.readexactly(int(head[i + 15 : head.index(b"\r\n", i)]))
        else:  # chunked
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        return int(head[9:12])


async def _interleaved(direct: str, proxied: str, n: int) -> tuple[list[float], list[float]]:
    d: list[float] = []
    p: list[float] = []
    conns = {direct: RawConn(direct), proxied: RawConn(proxied)}
    for url in (direct, proxied) * 100:  # warm both paths and connections
        await conns[url].call()
    for i in range(n):
        pair = ((direct, d), (proxied, p)) if i % 2 == 0 else ((proxied, p), (direct, d))
        for url, out in pair:
            t = time.perf_counter()
            status = await conns[url].call()
            out.append((time.perf_counter() - t) * 1000)
            assert status == 200, status
    return d, p


async def _closed(url: str, conc: int, seconds: float) -> int:
    done = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        conn = RawConn(url)
        while time.perf_counter() < stop:
            await conn.call()
            done += 1

    await asyncio.gather(*(worker() for _ in range(conc)))
    return done


@dataclass
class OpenLoopResult:
    """Latencies per target of one alternating open-loop run."""

    lat: dict[str, list[float]]
    errors: int = 0
    lag: list[float] = field(default_factory=list)  # generator's own send delay, ms
    # The proxy process during its own windows: seconds of wall, on a CPU, waiting for one.
    proxy_wall: float = 0.0
    proxy_cpu: float = 0.0
    proxy_wait: float = 0.0


async def _open_window(
    url: str, rate: float, seconds: float, idle: deque[RawConn], out: OpenLoopResult
) -> None:
    """Requests start on schedule; latency counts from the scheduled start."""
    lat = out.lat[url]

    async def one(scheduled: float) -> None:
        # Oldest idle connection first, so every pooled connection stays warm.
        conn = idle.popleft() if idle else RawConn(url)
        out.lag.append((time.perf_counter() - scheduled) * 1000)
        status = await conn.call()
        lat.append((time.perf_counter() - scheduled) * 1000)
        if status != 200:
            out.errors += 1
        idle.append(conn)

    tasks = []
    start = time.perf_counter() + 0.01
    for i in range(int(rate * seconds)):
        at = start + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(at)))
    await asyncio.gather(*tasks)


async def _open(
    urls: tuple[str, str], rate: float, seconds: float, windows: int, pid: int
) -> OpenLoopResult:
    """Alternate open-loop windows between the targets, `seconds` each in all.

    `pid` (the proxy, `urls[0]`) is watched during its windows: CPU and run-queue wait.
    """
    out = OpenLoopResult({u: [] for u in urls})
    pools: dict[str, deque[RawConn]] = {u: deque() for u in urls}
    for url in urls:
        for _ in range(64):  # pre-open connections so set-up is not measured
            conn = RawConn(url)
            await conn.call()
            pools[url].append(conn)
    for i in range(windows):
        order = urls if i % 2 == 0 else urls[::-1]
        for url in order:
            if url == urls[0]:
                (cpu0, wait0), t0 = run_queue_wait(pid), time.perf_counter()
            await _open_window(url, rate, seconds / windows, pools[url], out)
            if url == urls[0]:
                cpu1, wait1 = run_queue_wait(pid)
                out.proxy_wall += time.perf_counter() - t0
                out.proxy_cpu += cpu1 - cpu0
                out.proxy_wait += wait1 - wait0
    return out


def _run_closed(args: tuple[str, int, float]) -> int:
    return uvloop.run(_closed(*args))


def _run_open(args: tuple[tuple[str, str], float, float, int, int]) -> OpenLoopResult:
    return uvloop.run(_open(*args))


def _run_interleaved(args: tuple[str, str, int]) -> tuple[list[float], list[float]]:
    return uvloop.run(_interleaved(*args))


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def max_rps(url: str, seconds: float, conc: int, procs: int) -> float:
    """Requests/s at saturation: wrk if installed, else raw clients in `procs` processes."""
    wrk = shutil.which("wrk")
    if wrk:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(
                'wrk.method = "POST"\n'
                f"wrk.body = {json.dumps(BODY.decode())}\n"
                'wrk.headers["Content-Type"] = "application/json"\n'
                f'wrk.headers["Authorization"] = "Bearer {CLIENT_KEY}"\n'
                "counter = 0\n"
                "request = function()\n"
                "  counter = counter + 1\n"
                '  wrk.headers["X-Session-ID"] = "wrk-" .. counter\n'
                "  return wrk.format()\n"
                "end\n"
            )
        out = subprocess.run(
            [wrk, "-t2", f"-c{conc}", f"-d{seconds:.0f}s", "-s", f.name, url + PATH],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        os.unlink(f.name)
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        if m is None or non2xx:
            raise RuntimeError(f"wrk failed:\n{out}")
        return float(m.group(1))
    with mp.get_context("spawn").Pool(procs) as pool:
        counts = pool.map(_run_closed, [(url, conc // procs, seconds)] * procs)
    return sum(counts) / seconds


def open_loop(
    urls: tuple[str, str], rate: float, seconds: float, windows: int, pid: int
) -> OpenLoopResult:
    """The alternating open loop in one separate generator process."""
    with mp.get_context("spawn").Pool(1) as pool:
        result: OpenLoopResult = pool.apply(_run_open, ((urls, rate, seconds, windows, pid),))
        return result


def run_queue_wait(pid: int) -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for one) so far (Linux schedstat)."""
    on_cpu, waiting, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
    return int(on_cpu) / 1e9, int(waiting) / 1e9


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


def policy_env(preset: str = "standard", inline: bool = True) -> dict[str, str]:
    """The inline policy of every proxy in the run (the classifier runs through the preset)."""
    return {
        "MODELTRAIL_PROXY__INLINE_POLICY": "true" if inline else "false",
        "MODELTRAIL_PROXY__POLICY_PRESET": preset,
    }


def start_stack(
    workdir: Path, preset: str = "standard", inline: bool = True
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
    proxy, proxied = start_proxy(workdir, broker.address, direct, **policy_env(preset, inline))
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
    procs, direct, proxied = start_stack(workdir, args.preset, not args.no_inline)
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
                    **policy_env(args.preset, not args.no_inline),
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
                        **policy_env(args.preset, not args.no_inline),
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
