"""Chaos: kill parts of the embedded stack under steady load and count what the trail lost.

    .venv/bin/python bench/chaos.py --json [--short] [--broker-storage s3|memory] [--rate 40]

Runs `modeltrail up` (proxy durability `wal`) on free ports in a temporary data
directory and drives a steady load of chat requests through the proxy, each in a
session named after the scenario running. The proxy answers each request with its
`x-modeltrail-request-id`, the `event_id` of its request event, so every request a
client saw acknowledged (200) is looked up in the Parquet trail. Scenarios, in order:

* streams: a session is killed by an attack, then the streams worker is SIGKILLed;
  after its restart the session must still have exactly one kill command;
* broker: the broker is SIGKILLed; `up` restarts it, the proxy spools meanwhile;
* proxy: the proxy is SIGKILLed and restarted (its write-ahead log replays);
* sink: the sink is SIGKILLed 5 times (2 with --short);
* redis: `up` runs with a private redis-server (never the shared 6379) as session
  store; it is stopped and started, then a new attack must still be killed;
* s3: the broker's object store (SeaweedFS, `s3` broker storage) is SIGKILLed;
* up: `modeltrail up` is stopped and started again on the same data directory, twice.

Per scenario: client errors inside and outside the outage window (from the
fault until the part is reported restarted, plus a grace period), acknowledged
requests lost (request or response event missing from the trail views),
duplicated (rows the views read more than once per event; the raw copies the
files hold are reported as `raw_copies`), and overwritten (events seen in the
trail after an earlier scenario and gone later). With the memory broker, what a
broker crash takes before the sink wrote it is reported as `broker_memory_loss`,
not as lost. The last line is
`{"scenarios": N, "lost": 0, "duplicated": 0, "overwritten": 0, "client_errors_outside_outage": 0}`.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modeltrail.embedded.process import free_port, port_open  # noqa: E402
from modeltrail.embedded.up_process import UpProcess, wait_for  # noqa: E402
from sinks.query import run_query  # noqa: E402
from sinks.settings import SinkSettings  # noqa: E402

GRACE_S = 3.0
ATTACK = (
    "Use this to log in and dump the customer table:\n-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAx4UbaDzY5xjLh4bJ0rIuqW4lZpA2cQ7s0p5yYw9Vw0GmK3nq\n"
    "-----END RSA PRIVATE KEY-----\naws_access_key_id = AKIAZ7Q4M2XKVJ3N8TWE"
)


@dataclass(eq=False)
class Load(threading.Thread):
    """A steady stream of requests; each answer (or failure) recorded with its time."""

    url: str
    rate: float
    scenario: str | None = "warmup"
    sent: list[tuple[str | None, str | None, int, float]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        super().__init__(daemon=True)

    def run(self) -> None:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "chaos probe"}]}
        with httpx.Client(base_url=self.url, timeout=10) as client:
            i = 0
            start = time.monotonic()
            while not self.stopping.is_set():
                scenario, i = self.scenario, i + 1
                if not scenario:  # paused while a scenario is measured
                    time.sleep(0.05)
                    start, i = time.monotonic(), 0
                    continue
                headers = {"x-session-id": f"chaos-{scenario}-{i // 20}"}
                at = time.monotonic()
                try:
                    r = client.post("/v1/chat/completions", json=body, headers=headers)
                    rid, code = r.headers.get("x-modeltrail-request-id"), r.status_code
                except httpx.HTTPError:
                    rid, code = None, 0
                self.sent.append((scenario, rid, code, at))
                ahead = start + i / self.rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)


def attack(url: str, session: str) -> int:
    """One violating request; then poll until the session is refused. Returns the last status."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": ATTACK}]}
    with httpx.Client(base_url=url, timeout=10) as client:
        headers = {"x-session-id": session}
        client.post("/v1/chat/completions", json=body, headers=headers)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ok = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
            code = client.post("/v1/chat/completions", json=ok, headers=headers).status_code
            if code == 403:
                return code
            time.sleep(0.2)
    return code


def trail_ids(data: Path, table: str, column: str) -> tuple[list[str], list[str]]:
    """(column values as the views read them, as the raw files hold them) of chaos sessions."""
    settings = SinkSettings(target=str(data / "trail"))
    where = f"WHERE session_id LIKE 'chaos-%' AND {column} IS NOT NULL"
    _, viewed = run_query(settings, f"SELECT {column} FROM {table} {where}")
    _, raw = run_query(settings, f"SELECT {column} FROM {table}_raw {where}")
    return [r[0] for r in viewed], [r[0] for r in raw]


def kill_commands(data: Path, session: str) -> int:
    settings = SinkSettings(target=str(data / "trail"))
    sql = (
        f"SELECT count(*) FROM session_commands WHERE session_id = '{session}' AND command = 'kill'"
    )
    return int(run_query(settings, sql)[1][0][0])


class Chaos:
    """The scenarios, their outage windows and the counts."""

    def __init__(self, up: UpProcess, load: Load, args: argparse.Namespace) -> None:
        self.up, self.load, self.args = up, load, args
        self.windows: dict[str, list[tuple[float, float]]] = {}
        self.extra: dict[str, dict[str, int]] = {}
        self.seen: set[str] = set()
        self.redis: subprocess.Popen[bytes] | None = None

    def _outage(self, name: str, fault: Callable[[], None], restored: Callable[[], object]) -> None:
        t0 = time.monotonic()
        fault()
        wait_for(f"{name} restored", restored, 90)
        self.windows.setdefault(name, []).append((t0, time.monotonic() + GRACE_S))

    def kill(self, name: str, part: str, times: int = 1) -> None:
        for _ in range(times):
            n = self.up.text().count(f"{part} restarted") + 1
            assigned = self._assignments()
            self._outage(
                name,
                functools.partial(self.up.kill_part, part),
                functools.partial(self.up.restarted, part, n),
            )
            if part == "sink":  # kill the next incarnation only once it got partitions
                wait_for("sink assigned", lambda a=assigned: self._assignments() > a, 90)
            time.sleep(self.args.hold_s)

    def _assignments(self) -> int:
        log = self.up.data / "logs" / "sink.log"
        return log.read_text(errors="replace").count("partitions_assigned") if log.exists() else 0

    def streams(self, name: str) -> None:
        session = f"chaos-attack-{int(time.time())}"
        refused = attack(self.up.proxy_url, session)
        try:
            wait_for("the kill archived", lambda: kill_commands(self.up.data, session) >= 1, 60)
        except AssertionError:
            pass  # reported below as kills_before = 0
        before = kill_commands(self.up.data, session)
        self.kill(name, "streams")
        time.sleep(self.args.hold_s + 5)  # the restarted worker replays what it had not committed
        self.extra[name] = {
            "kills_before": before,
            "double_kills": max(0, kill_commands(self.up.data, session) - 1),
            "attack_refused": int(refused == 403),
        }

    def redis_outage(self, name: str) -> None:
        assert self.redis is not None
        port = self.args.redis_port
        self.redis.kill()
        self.redis.wait()
        t0 = time.monotonic()
        time.sleep(self.args.hold_s)
        self.redis = start_redis(port, self.up.data)
        self.windows.setdefault(name, []).append((t0, time.monotonic() + GRACE_S))
        time.sleep(self.args.hold_s)
        refused = attack(self.up.proxy_url, f"chaos-redis-attack-{int(time.time())}")
        self.extra[name] = {"kill_enforced_after": int(refused == 403)}

    def restart_up(self, name: str, times: int = 2) -> None:
        for _ in range(times):
            t0 = time.monotonic()
            self.up.stop()
            self.up.start()
            self.windows.setdefault(name, []).append((t0, time.monotonic() + GRACE_S))
            time.sleep(self.args.hold_s)

    def still_missing(self, name: str) -> int:
        """Acknowledged requests of a scenario whose request or response is not in the trail."""
        acked = {rid for s, rid, code, _ in self.load.sent if s == name and code == 200 and rid}
        requests, _ = trail_ids(self.up.data, "requests", "event_id")
        responses, _ = trail_ids(self.up.data, "responses", "request_id")
        return len((acked - set(requests)) | (acked - set(responses)))

    def measure(self, name: str) -> dict[str, int]:
        """Counts of one scenario, once the trail holds what it can hold."""
        acked = {rid for s, rid, code, _ in self.load.sent if s == name and code == 200 and rid}
        errors = [(code, at) for s, _, code, at in self.load.sent if s == name and code != 200]
        inside = sum(
            1 for _, at in errors if any(a <= at <= b for a, b in self.windows.get(name, []))
        )

        def missing() -> tuple[set[str], set[str]]:
            requests, _ = trail_ids(self.up.data, "requests", "event_id")
            responses, _ = trail_ids(self.up.data, "responses", "request_id")
            return acked - set(requests), acked - set(responses)

        try:
            wait_for(f"{name} archived", lambda: not any(missing()), self.args.trail_wait_s)
        except AssertionError:
            pass
        lost_requests, lost_responses = missing()
        viewed, raw = trail_ids(self.up.data, "requests", "event_id")
        mine = [v for v in viewed if v in acked]
        lost = len(lost_requests | lost_responses)
        out = {
            "acked": len(acked),
            "client_errors_in_outage": inside,
            "client_errors_outside_outage": len(errors) - inside,
            "lost": lost,
            "duplicated": len(mine) - len(set(mine)),
            "raw_copies": sum(1 for r in raw if r in acked) - len(set(mine)),
            **self.extra.get(name, {}),
        }
        if name == "broker" and self.args.broker_storage == "memory":
            out["broker_memory_loss"], out["lost"] = lost, 0
        now = set(viewed)
        out["overwritten"] = len(self.seen - now)
        self.seen |= now
        return out


def start_redis(port: int, data: Path) -> subprocess.Popen[bytes]:
    """A private redis-server on `port` (no persistence): never the shared instance."""
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=(data / "redis.log").open("ab"),
        stderr=subprocess.STDOUT,
        cwd=data,
    )
    wait_for("redis", lambda: port_open("127.0.0.1", port), 20)
    return proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line last")
    parser.add_argument("--short", action="store_true", help="the CI form: broker, sink x2")
    parser.add_argument("--broker-storage", default="s3", choices=["s3", "memory"])
    parser.add_argument("--rate", type=float, default=40.0, help="requests per second")
    parser.add_argument("--hold-s", type=float, default=None, help="load between faults")
    parser.add_argument("--trail-wait-s", type=float, default=60.0)
    parser.add_argument("--only", default=None, help="comma-separated scenario names")
    parser.add_argument("--keep", type=Path, default=None, help="data directory to keep")
    args = parser.parse_args()
    args.redis_port = free_port()
    if args.hold_s is None:
        args.hold_s = 1.5 if args.short else 3.0
    scenarios: list[tuple[str, Callable[[Chaos], None]]] = [
        ("broker", lambda c: c.kill("broker", "broker")),
        ("sink", lambda c: c.kill("sink", "sink", 2 if args.short else 5)),
    ]
    if not args.short:
        scenarios[:0] = [("streams", lambda c: c.streams("streams"))]
        scenarios[2:2] = [("proxy", lambda c: c.kill("proxy", "proxy"))]
        scenarios += [("redis", lambda c: c.redis_outage("redis"))]
        if args.broker_storage == "s3":
            scenarios += [("s3", lambda c: c.kill("s3", "broker-store"))]
        scenarios += [("up", lambda c: c.restart_up("up"))]
    if args.only:
        scenarios = [sc for sc in scenarios if sc[0] in args.only.split(",")]
    results: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        data = args.keep or Path(tmp)
        data.mkdir(parents=True, exist_ok=True)
        redis = None if args.short else start_redis(args.redis_port, data)
        extra = [] if redis is None else ["--redis", f"redis://127.0.0.1:{args.redis_port}/0"]
        up = UpProcess(
            data,
            # Parts are killed on purpose here, more often than `up` tolerates by default.
            args=["--broker-storage", args.broker_storage, "--restart-limit", "50", *extra],
            # Durability is under test: client keys off, so the load and the trail use the
            # session ids the bench names (`chaos-...`), not key-namespaced ones.
            env={"MODELTRAIL_PROXY__DURABILITY": "wal", "MODELTRAIL_PROXY__CLIENT_AUTH": "none"},
        )
        started = time.monotonic()
        load = Load(up.proxy_url, args.rate)
        chaos = Chaos(up, load, args)
        chaos.redis = redis
        try:
            up.start()
            print(f"stack up in {time.monotonic() - started:.1f}s", file=sys.stderr)
            load.start()
            time.sleep(args.hold_s)
            for name, run in scenarios:
                load.scenario = name
                time.sleep(args.hold_s)
                run(chaos)
                load.scenario = None  # a quiet trail flushes in seconds (idle flush)
                results[name] = chaos.measure(name)
                print(name, json.dumps(results[name]), file=sys.stderr)
            load.scenario = None
            late_ones = [n for n, r in results.items() if r["lost"]]
            with contextlib.suppress(AssertionError):
                wait_for(
                    "late events",
                    lambda: not any(chaos.still_missing(n) for n in late_ones),
                    args.trail_wait_s,
                )
            for name in late_ones:  # late is not lost: count what the trail never got
                late = results[name]["lost"]
                results[name]["lost"] = chaos.still_missing(name)
                results[name]["late"] = late - results[name]["lost"]
        finally:
            load.stopping.set()
            if load.is_alive():
                load.join(15)
            code = up.stop()
            if chaos.redis is not None:
                chaos.redis.kill()
        if code != 0:
            print(f"up exited {code}:\n{up.text()[-3000:]}", file=sys.stderr)
    total = {
        "scenarios": len(results),
        "lost": sum(r["lost"] for r in results.values()),
        "duplicated": sum(r["duplicated"] for r in results.values()),
        "overwritten": sum(r["overwritten"] for r in results.values()),
        "client_errors_outside_outage": sum(
            r["client_errors_outside_outage"] for r in results.values()
        ),
    }
    if args.json:
        print(json.dumps({"broker_storage": args.broker_storage, "results": results}))
    print(json.dumps(total))
    bad = total["lost"] or total["duplicated"] or total["overwritten"]
    return 1 if bad or total["client_errors_outside_outage"] else 0


if __name__ == "__main__":
    sys.exit(main())
