"""End to end: `modeltrail up` as a real process, traffic through the proxy, the trail.

`modeltrail up` runs on free ports with a temporary data directory: a Tansu broker,
one streams worker, one sink writing Parquet, the proxy and the fake backend, each
a real process. A benign session is never flagged; an attacking session's injection
is blocked inline by the proxy (403 naming the rule), the session is flagged,
killed, refused on its next request and its running stream is cut; the Parquet
trail holds every request and response event of both sessions exactly once
(checked against what the proxy put on Kafka), plus the violation and the kill
command. Last, SIGTERM stops the parts one by one in order and `up` exits 0.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow.parquet as pq
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from modeltrail.demo import attack_texts
from modeltrail.stack import STOP_ORDER, StackOptions
from proxy.control.keyfile import read_key_file
from proxy.keys.local import load_local_key
from schemas import decode
from schemas.topics import Topics
from tests.support.up_process import Up, run_up

SLOW_STREAM = {"x-fake-chunks": "200", "x-fake-chunk-delay-ms": "50"}

#: The parts of a default `modeltrail up` (no --webhook: no alerts service).
RUNNING = StackOptions().parts()


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    with run_up(tmp_path_factory.mktemp("e2e"), Up) as running:
        yield running


def chat(text: str, *, stream: bool = False) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


class StreamReader(threading.Thread):
    """Reads one long SSE stream in the background and keeps every data line."""

    def __init__(self, client: httpx.Client, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.client, self.headers = client, headers
        self.lines: list[str] = []
        self.first = threading.Event()
        self.status: int | None = None

    def run(self) -> None:
        body = chat("Write a long story about a lighthouse.", stream=True)
        with self.client.stream(
            "POST", "/v1/chat/completions", json=body, headers=self.headers
        ) as resp:
            self.status = resp.status_code
            for line in resp.iter_lines():
                if line.startswith("data:"):
                    self.lines.append(line[5:].strip())
                    self.first.set()
        self.first.set()


async def kafka_events(bootstrap: str, topics: list[str], sessions: set[str]) -> list[Any]:
    """Every event on `topics` for `sessions`, read from the beginning to the end offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # fetches the cluster metadata
        parts = [
            TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()
        ]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        out: list[Any] = []
        while [tp for tp in parts if await consumer.position(tp) < end[tp]]:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    event = decode(record.value)
                    if event.session_id in sessions:
                        out.append(event)
        return out
    finally:
        await consumer.stop()


def trail_rows(trail: Path, table: str, sessions: set[str]) -> list[tuple[str, str]]:
    """(event_id, session_id) rows of one Parquet table for the sessions."""
    files = list((trail / table).rglob("*.parquet"))
    if not files:
        return []
    glob = str(trail / table / "**" / "*.parquet")
    ids = ", ".join(f"'{s}'" for s in sessions)
    with duckdb.connect() as con:
        rows = con.execute(
            f"SELECT event_id, session_id FROM read_parquet('{glob}', union_by_name=true, "
            f"hive_partitioning=true) WHERE session_id IN ({ids})"
        ).fetchall()
    return [(str(a), str(b)) for a, b in rows]


def test_status_table_shows_where_to_point_clients(up: Up) -> None:
    text = up.text()
    assert f"OPENAI_BASE_URL=http://127.0.0.1:{up.port}/v1" in text
    assert f"ANTHROPIC_BASE_URL=http://127.0.0.1:{up.port}" in text
    local = load_local_key(up.data_dir)
    assert local is not None and f"OPENAI_API_KEY={local.key}" in text
    logs = up.data_dir / "logs"
    assert {p.name for p in logs.glob("*.log")} >= {f"{part}.log" for part in RUNNING}
    for part in ("sink", "streams", "proxy"):
        assert (logs / f"{part}.log").stat().st_size > 0, part
    health = httpx.get(f"http://127.0.0.1:{up.control_port}/control/health", timeout=5)
    assert health.status_code == 200


def test_benign_passes_attack_is_killed_and_everything_is_audited(up: Up) -> None:
    local = load_local_key(up.data_dir)
    assert local is not None, "up made no local client key"
    assert (up.data_dir / "local-key.json").stat().st_mode & 0o777 == 0o600
    names = f"benign-{uuid.uuid4().hex[:8]}", f"attack-{uuid.uuid4().hex[:8]}"
    # The proxy names sessions inside the client key.
    benign, attacker = (f"{local.key_id}:{n}" for n in names)
    injection, leak, leaked_reply = attack_texts()
    keyless = httpx.post(f"http://127.0.0.1:{up.port}/v1/chat/completions", json=chat("hi"))
    assert keyless.status_code == 401
    proxy = httpx.Client(
        base_url=f"http://127.0.0.1:{up.port}",
        timeout=30,
        headers={"authorization": f"Bearer {local.key}"},
    )
    key = read_key_file(up.data_dir / "control.key")
    assert key is not None and (up.data_dir / "control.key").stat().st_mode & 0o077 == 0
    control = httpx.Client(
        base_url=f"http://127.0.0.1:{up.control_port}",
        timeout=5,
        headers={"authorization": f"Bearer {key}"},
    )
    assert httpx.get(f"http://127.0.0.1:{up.control_port}/control/sessions").status_code == 401

    def session(sid: str) -> dict[str, Any]:
        resp = control.get(f"/control/sessions/{sid}")
        return resp.json() if resp.status_code == 200 else {}

    # A benign session: plain, streaming, Anthropic streaming; all answered.
    b = {"x-session-id": names[0]}
    assert (
        proxy.post(
            "/v1/chat/completions", json=chat("Name a sorting algorithm."), headers=b
        ).status_code
        == 200
    )
    with proxy.stream(
        "POST", "/v1/chat/completions", json=chat("Explain TCP.", stream=True), headers=b
    ) as r:
        assert r.status_code == 200
        assert "[DONE]" in r.read().decode()
    anthropic = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": "What is a consumer group?"}],
    }
    with proxy.stream(
        "POST", "/v1/messages", json=anthropic, headers={**b, "anthropic-version": "2023-06-01"}
    ) as r:
        assert r.status_code == 200
        assert "message_stop" in r.read().decode()

    # The attacker: a benign start, a long stream running, then the injection and the leak.
    a = {"x-session-id": names[1]}
    assert (
        proxy.post("/v1/chat/completions", json=chat("Hello there."), headers=a).status_code == 200
    )
    reader = StreamReader(proxy, {**a, **SLOW_STREAM})
    reader.start()
    assert reader.first.wait(10), "the long stream never started"
    # The proxy's inline policy refuses the injection itself, naming the rule (not the text);
    # the streams worker still judges the request event and flags the session.
    blocked = proxy.post("/v1/chat/completions", json=chat(injection), headers=a)
    assert blocked.status_code == 403, blocked.text
    assert blocked.json()["error"]["type"] == "policy_violation"
    assert "PI-001" in blocked.json()["error"]["rule_ids"].split(",")
    assert "previous instructions" not in blocked.text.lower()
    proxy.post("/v1/chat/completions", json=chat(leak), headers={**a, "x-fake-reply": leaked_reply})
    killed = wait_for("the kill", lambda: session(attacker).get("killed"), timeout_s=10)
    assert killed
    info = session(attacker)
    assert info["flagged"] and info["violations"] >= 1

    # Refused next request, with a JSON body naming the reason.
    refused = proxy.post("/v1/chat/completions", json=chat("Are you there?"), headers=a)
    assert refused.status_code == 403
    assert "error" in refused.json()

    # The running stream was cut with a final SSE error event, long before its 200 chunks.
    reader.join(15)
    assert not reader.is_alive(), "the stream of a killed session kept running"
    assert reader.status == 200
    data = [line for line in reader.lines if line and line != "[DONE]"]
    assert len(data) < 150
    assert "error" in json.loads(data[-1]), data[-1]

    # The benign session was never flagged.
    assert session(benign).get("flagged") is False
    assert session(benign).get("killed") is False

    # The trail: every request and response event exactly once, plus violation and kill.
    topics = Topics()
    sessions = {benign, attacker}

    def settled() -> list[Any]:
        # Every request's response event is on Kafka too (the last ones may still be
        # in the proxy's emit batch when the test gets here).
        evs = asyncio.run(kafka_events(up.bootstrap, [topics.requests, topics.responses], sessions))
        answered = {e.request_id for e in evs if e.type == "llm.response.v1"}
        asked = {e.request_id for e in evs if e.type == "llm.request.v1"}
        return evs if asked and asked <= answered else []

    events = wait_for("every request's response on Kafka", settled, timeout_s=15)
    sent = {e.event_id for e in events}
    assert len([e for e in events if e.type == "llm.request.v1" and e.session_id == benign]) == 3
    trail = up.trail

    def archived() -> bool:
        rows = trail_rows(trail, "requests", sessions) + trail_rows(trail, "responses", sessions)
        return {eid for eid, _ in rows} >= sent

    wait_for("requests and responses in Parquet", archived, timeout_s=30)
    rows = trail_rows(trail, "requests", sessions) + trail_rows(trail, "responses", sessions)
    ids = [eid for eid, _ in rows]
    assert len(ids) == len(set(ids)), "an event landed twice"
    assert set(ids) == sent
    violations = wait_for(
        "the violation in Parquet", lambda: trail_rows(trail, "violations", sessions)
    )
    assert {sid for _, sid in violations} == {attacker}
    commands = wait_for(
        "the kill command in Parquet", lambda: trail_rows(trail, "session_commands", sessions)
    )
    assert {sid for _, sid in commands} == {attacker}
    # The client key is in no Parquet row, only its id.
    rows = [r for f in trail.rglob("*.parquet") for r in pq.read_table(f).to_pylist()]
    assert local.key_id in str(rows) and local.key not in str(rows)
    proxy.close()
    control.close()


def test_sigterm_stops_the_parts_in_order(up: Up) -> None:
    up.proc.send_signal(signal.SIGTERM)
    assert up.proc.wait(120) == 0
    lines = [line.strip() for line in up.text().splitlines() if " stopped (exit " in line]
    assert [line.split()[0] for line in lines] == [p for p in STOP_ORDER if p in RUNNING]
    codes = {line.split()[0]: line.split("exit ")[1].rstrip(")") for line in lines}
    # The proxy drained, streams committed, the sink flushed: all exited cleanly.
    assert codes["proxy"] == codes["streams"] == codes["sink"] == "0"
