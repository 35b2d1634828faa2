"""The request the proxy benches send and the load generators that send it.

A minimal keep-alive HTTP/1.1 client on raw asyncio streams and uvloop (a small fraction of
aiohttp's CPU per request, so the generator does not starve the proxy of the shared cores),
closed- and open-loop loads, and the per-process CPU and run-queue readings. Used by
`proxy_overhead.py` and `dashboard_overhead.py`; the generators run in spawned processes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing as mp
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import uvloop

# A realistic request (issue 9): a ~1 KB system prompt and a ~2 KB user message, so the
# cost of judging it inline is part of what is measured. Written for this bench. As with
# an agent, the system prompt is the same in every request; the user message is new in
# every request (its ticket number), so a proxy cannot have judged it before.
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
TICKET = b"000000000"  # replaced by a per-request number of the same width
USER_MESSAGE = (
    f"Ticket BILL-{TICKET.decode()}: our nightly billing job got slower after last week's release and now takes about "
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
BODY_HEAD, BODY_TAIL = BODY.split(TICKET, 1)
PATH = "/v1/chat/completions"
#: Client keys are on: a fixed, well-formed key the spawned load generators can send too.
CLIENT_KEY = "mt-bench" + "0" * 38


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
        n = next(self._sessions)
        session = self.tag + str(n).encode()
        # Unique across the generator processes of a run (each sends < 100,000).
        ticket = b"%09d" % ((os.getpid() * 100_000 + n) % 1_000_000_000)
        self.writer.write(
            self.head + b"X-Session-ID: " + session + b"\r\n\r\n" + BODY_HEAD + ticket + BODY_TAIL
        )
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
