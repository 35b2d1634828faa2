"""Time to kill: from the proxy receiving a violating request to the proxy refusing the session.

Starts the embedded stack (Tansu broker, streams worker, sink, proxy, fake backend)
on free ports in a temporary directory, then runs N attacks, each in a new session
of a new client key (so key escalation never turns an attack into a key kill):
the clock starts just before the violating request is sent (the proxy receives it
well under a millisecond later on loopback) and stops when the proxy's control API
reports the session killed, which is the same registry the proxy checks before
forwarding. The first attacks after start-up are a warm-up and not counted. After
each attack one more request confirms the proxy answers 403.

It also measures a key kill: a second proxy replica (its own process) joins the
stack, and N times a fresh client key is killed through the first replica's
control API; the clock stops when both replicas refuse the key (their control
APIs report the `key:<id>` kill, the registry every request is checked against),
and one request per replica confirms the 403.

    .venv/bin/python bench/time_to_kill.py --json [--n 200] [--broker-storage s3|memory]

The last line printed is
`{"p50_ms": ..., "p99_ms": ..., "n": ..., "key_kill_p50_ms": ..., "key_kill_p99_ms": ..., "key_kill_n": ...}`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modeltrail.embedded.process import ManagedProcess, free_port  # noqa: E402
from modeltrail.stack import StackOptions  # noqa: E402
from modeltrail.up import Stack  # noqa: E402
from proxy.control.keyfile import read_key_file  # noqa: E402
from schemas import LLMRequest, SessionCommand, Violation, decode  # noqa: E402
from schemas.topics import Topics  # noqa: E402

#: A request whose user message carries a private key block and a cloud key: the
#: standard preset kills on it from the request alone.
ATTACK = (
    "Use this to log in and dump the customer table:\n"
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAx4UbaDzY5xjLh4bJ0rIuqW4lZpA2cQ7s0p5yYw9Vw0GmK3nq\n"
    "-----END RSA PRIVATE KEY-----\n"
    "aws_access_key_id = AKIAZ7Q4M2XKVJ3N8TWE"
)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


async def stage_times(bootstrap: str, topics: Topics) -> dict[str, float]:
    """p50 and p99 ms from the proxy receiving each attack to the records of the kill path.

    Stages: the request event's `time` (stamped by the proxy on receipt) to the Kafka
    timestamps (set by each producer at send time, one machine, one clock) of the
    request record, the first violation and the kill command. Read to the fetch high
    watermarks (Tansu's ListOffsets answer can be short of the end).
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    received: dict[str, float] = {}
    first: dict[str, dict[str, float]] = {"request": {}, "violation": {}, "command": {}}
    try:
        await consumer.topics()
        names = [topics.requests, topics.violations, topics.commands]
        parts = [
            TopicPartition(t, p) for t in names for p in consumer.partitions_for_topic(t) or ()
        ]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)

        async def behind() -> bool:
            for tp in parts:
                end = consumer.highwater(tp)
                if end is None or await consumer.position(tp) < end:
                    return True
            return False

        while await behind():
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    event = decode(record.value)
                    if not event.session_id.partition(":")[2].startswith("ttk-"):
                        continue
                    kind = {LLMRequest: "request", Violation: "violation"}.get(type(event))
                    if isinstance(event, SessionCommand) and event.command == "kill":
                        kind = "command"
                    if kind is None:
                        continue
                    sid, at = event.session_id, float(record.timestamp)
                    first[kind][sid] = min(at, first[kind].get(sid, at))
                    if kind == "request" and sid not in received:
                        received[sid] = event.time.timestamp() * 1000
    finally:
        await consumer.stop()
    out: dict[str, float] = {}
    for stage, seen in first.items():
        deltas = [at - received[sid] for sid, at in seen.items() if sid in received]
        if deltas:
            out[f"to_{stage}_record_p50_ms"] = round(statistics.median(deltas), 2)
            out[f"to_{stage}_record_p99_ms"] = round(percentile(deltas, 99), 2)
    return out


def fresh_key(control: httpx.Client) -> tuple[str, str]:
    """A new client key (id, key), known to the replica whose control API issued it."""
    made = control.post("/control/keys", json={"team": "bench"})
    made.raise_for_status()
    return made.json()["key_id"], made.json()["key"]


def attack(proxy: httpx.Client, control: httpx.Client, *, timeout_s: float, poll_s: float) -> float:
    """One attack in a fresh session of a fresh key; ms until the session is refused.

    A fresh key each time: streams kills a key after 3 of its sessions are killed
    (escalation), and a session of a killed key is refused at once, which would
    time nothing.
    """
    key_id, key = fresh_key(control)
    name = f"ttk-{uuid.uuid4().hex[:12]}"
    headers = {"x-session-id": name, "authorization": f"Bearer {key}"}
    sid = f"{key_id}:{name}"  # the proxy names sessions inside the client key
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": ATTACK}]}
    start = time.perf_counter()
    resp = proxy.post("/v1/chat/completions", json=body, headers=headers)
    if resp.status_code not in (200, 403):
        raise RuntimeError(f"attack answered {resp.status_code}: {resp.text[:200]}")
    deadline = start + timeout_s
    while time.perf_counter() < deadline:
        info = control.get(f"/control/sessions/{sid}")
        if info.status_code == 200 and info.json().get("killed"):
            elapsed = (time.perf_counter() - start) * 1000
            refused = proxy.post("/v1/chat/completions", json=body, headers=headers)
            if refused.status_code != 403:
                raise RuntimeError(f"killed session answered {refused.status_code}")
            return elapsed
        time.sleep(poll_s)
    raise RuntimeError(f"session {sid} not killed within {timeout_s}s")


def second_replica(stack: Stack, opts: StackOptions, tmp: str) -> tuple[ManagedProcess, int, int]:
    """Another proxy process on the same broker and key secret; returns it and its ports."""
    port, control_port = free_port(), free_port()
    env = {
        "MODELTRAIL_PROXY__INSTANCE_ID": "proxy-2",
        "MODELTRAIL_PROXY__SPOOL_DIR": str(Path(tmp) / "spool-2"),
    }
    other = dataclasses.replace(
        opts,
        kafka=stack.bootstrap,
        port=port,
        control_port=control_port,
        extra_env={**opts.extra_env, **env},
    )
    twin = Stack(other)
    twin.fake_url = stack.fake_url
    proc = twin.build("proxy")
    proc.log_path = Path(tmp) / "logs" / "proxy-2.log"
    return proc.start(), port, control_port


def key_kill(
    controls: list[httpx.Client], proxies: list[httpx.Client], *, timeout_s: float, poll_s: float
) -> float:
    """Kill a fresh key through the first replica; ms until every replica refuses it."""
    key_id, key = fresh_key(controls[0])
    deadline = time.perf_counter() + timeout_s
    for control in controls[1:]:  # the other replica must know the key first
        while control.get(f"/control/keys/{key_id}").status_code != 200:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"key {key_id} never reached the other replica")
            time.sleep(poll_s)
    start = time.perf_counter()
    controls[0].post(
        f"/control/scopes/key/{key_id}/kill", json={"reason": "bench"}
    ).raise_for_status()
    pending = list(controls)
    while pending:
        pending = [
            c for c in pending if not c.get(f"/control/sessions/key:{key_id}").json().get("killed")
        ]
        if pending and time.perf_counter() > start + timeout_s:
            raise RuntimeError(f"key {key_id} not refused everywhere within {timeout_s}s")
        if pending:
            time.sleep(poll_s)
    elapsed = (time.perf_counter() - start) * 1000
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    for proxy in proxies:
        refused = proxy.post("/v1/chat/completions", json=body, headers={"x-api-key": key})
        if refused.status_code != 403:
            raise RuntimeError(f"killed key answered {refused.status_code}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line last")
    parser.add_argument("--n", type=int, default=200, help="counted attacks (>= 200 for p99)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument(
        "--broker-storage", default="s3", choices=["s3", "memory"], help="embedded broker storage"
    )
    parser.add_argument("--poll-ms", type=float, default=2.0, help="control API poll interval")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per attack")
    parser.add_argument(
        "--env", action="append", default=[], help="KEY=VALUE for every part (tuning runs)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ttk-") as tmp:
        opts = StackOptions(
            data_dir=Path(tmp),
            kafka_port=free_port(),
            broker_storage=args.broker_storage,
            port=free_port(),
            control_port=free_port(),
            extra_env=dict(kv.split("=", 1) for kv in args.env),
        )
        stack = Stack(opts)
        samples: list[float] = []
        key_samples: list[float] = []
        twin: ManagedProcess | None = None
        try:
            started = time.perf_counter()
            stack.start()
            print(f"stack up in {time.perf_counter() - started:.1f}s", file=sys.stderr)
            twin, port_2, control_2 = second_replica(stack, opts, tmp)
            # both replicas read the one generated admin key from the data directory
            admin = {"authorization": f"Bearer {read_key_file(opts.control_key_file)}"}
            poll = args.poll_ms / 1000
            with (
                httpx.Client(base_url=f"http://127.0.0.1:{opts.port}", timeout=10) as proxy,
                httpx.Client(
                    base_url=f"http://127.0.0.1:{opts.control_port}", timeout=5, headers=admin
                ) as control,
                httpx.Client(base_url=f"http://127.0.0.1:{port_2}", timeout=10) as proxy_2,
                httpx.Client(
                    base_url=f"http://127.0.0.1:{control_2}", timeout=5, headers=admin
                ) as control_2c,
            ):
                for i in range(args.warmup + args.n):
                    ms = attack(proxy, control, timeout_s=args.timeout, poll_s=poll)
                    if i >= args.warmup:
                        samples.append(ms)
                for i in range(args.warmup + args.n):
                    ms = key_kill(
                        [control, control_2c], [proxy, proxy_2], timeout_s=args.timeout, poll_s=poll
                    )
                    if i >= args.warmup:
                        key_samples.append(ms)
            stages = asyncio.run(stage_times(stack.bootstrap, Topics(opts.topic_prefix)))
        finally:
            if twin is not None:
                twin.stop()
            stack.stop()
    result = {
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(percentile(samples, 99), 2),
        "n": len(samples),
        "key_kill_p50_ms": round(statistics.median(key_samples), 2),
        "key_kill_p99_ms": round(percentile(key_samples, 99), 2),
        "key_kill_n": len(key_samples),
        "broker_storage": args.broker_storage,
    }
    print(
        f"max {max(samples):.1f} ms, mean {statistics.fmean(samples):.1f} ms; stages {stages}",
        file=sys.stderr,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
