"""Spend in the streams tables, end to end: `modeltrail up` (s3 broker storage, as it
runs by default), traffic under two client keys of two teams, the proxy prices each
response, the streams worker adds it to its spend table, and the operator reads it
back with `modeltrail spend --live` (the table's changelog on Kafka).

The expected figures are the response events the proxy put on `llm.responses`:
the table must hold exactly their sums (a replayed or doubled event would show).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from proxy.control.keyfile import read_key_file
from proxy.keys.local import load_local_key
from schemas import LLMResponse, decode
from schemas.topics import Topics
from tests.support.up_process import Up, run_up


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    with run_up(tmp_path_factory.mktemp("spend"), Up) as running:
        yield running


def live(up: Up, by: str) -> dict[str, dict[str, Any]]:
    """`modeltrail spend --live --by BY --json`, as an operator runs it, keyed by id."""
    env = {**os.environ, "MODELTRAIL_KAFKA__BOOTSTRAP_SERVERS": up.bootstrap}
    done = subprocess.run(
        [sys.executable, "-m", "modeltrail.cli", "spend", "--live", "--by", by, "--json"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return {row[by]: row for row in json.loads(done.stdout)}


async def responses(bootstrap: str, sessions: set[str], count: int) -> list[LLMResponse]:
    """The first `count` response events of `sessions` on `llm.responses`."""
    consumer = AIOKafkaConsumer(
        Topics("").responses,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[LLMResponse] = []
    deadline = time.monotonic() + 30
    try:
        while len(found) < count:
            assert time.monotonic() < deadline, f"{len(found)} of {count} responses on Kafka"
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    event = decode(record.value)
                    if isinstance(event, LLMResponse) and event.session_id in sessions:
                        found.append(event)
    finally:
        await consumer.stop()
    return found


def test_spend_per_team_key_user_model_and_session_reads_back_live(up: Up) -> None:
    local = load_local_key(up.data_dir)
    assert local is not None
    admin = {"authorization": f"Bearer {read_key_file(up.data_dir / 'control.key')}"}
    made = httpx.post(
        f"http://127.0.0.1:{up.control_port}/control/keys",
        json={"team": "blue", "user": "bo"},
        headers=admin,
        timeout=10,
    )
    assert made.status_code == 201, made.text
    blue_id, blue_key = made.json()["key_id"], made.json()["key"]
    run = uuid.uuid4().hex[:8]
    plan = [  # (key, session name, model, stream)
        *((local.key, f"a-{run}", "gpt-4o-mini", i % 2 == 1) for i in range(4)),
        *((blue_key, f"b-{run}", "gpt-4o", i % 2 == 0) for i in range(3)),
        (blue_key, f"c-{run}", "no-such-priced-model", False),
    ]
    with httpx.Client(base_url=f"http://127.0.0.1:{up.port}", timeout=30) as proxy:
        for key, name, model, stream in plan:
            body = {
                "model": model,
                "stream": stream,
                "messages": [{"role": "user", "content": "Name a sorting algorithm."}],
            }
            headers = {"authorization": f"Bearer {key}", "x-session-id": name}
            if stream:
                body["stream_options"] = {"include_usage": True}
                with proxy.stream(
                    "POST", "/v1/chat/completions", json=body, headers=headers
                ) as resp:
                    assert resp.status_code == 200
                    resp.read()
            else:
                assert proxy.post("/v1/chat/completions", json=body, headers=headers).is_success

    sessions = {f"{local.key_id}:a-{run}", f"{blue_id}:b-{run}", f"{blue_id}:c-{run}"}
    events = asyncio.run(responses(up.bootstrap, sessions, len(plan)))
    want: dict[str, dict[str, dict[str, float]]] = {}
    for by, of in (
        ("team", lambda e: e.team),
        ("key", lambda e: e.key_id),
        ("model", lambda e: e.model),
        ("session", lambda e: e.session_id),
    ):
        sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for e in events:
            row = sums[of(e)]
            row["cost_usd"] += e.cost_usd or 0.0
            row["input_tokens"] += e.input_tokens or 0
            row["output_tokens"] += e.output_tokens or 0
            row["requests"] += 1
            row["unpriced"] += e.cost_usd is None
        want[by] = sums
    assert want["team"]["blue"]["unpriced"] == 1  # the unpriced model is counted, cost null
    assert want["team"]["blue"]["cost_usd"] > 0 and want["team"]["blue"]["output_tokens"] > 0

    def matches(by: str) -> bool:
        got = live(up, by)
        for ident, sums in want[by].items():
            row = got.get(ident)
            if row is None or row["requests"] != sums["requests"]:
                return False
            assert row["cost_usd"] == pytest.approx(sums["cost_usd"], abs=1e-6), (by, ident)
            for field in ("input_tokens", "output_tokens", "unpriced"):
                assert row[field] == sums[field], (by, ident, field)
        return True

    deadline = time.monotonic() + 30  # the worker writes its table at each commit
    while not matches("team"):
        assert time.monotonic() < deadline, f"live spend never matched: {live(up, 'team')}"
        time.sleep(0.5)
    for by in ("key", "model", "session"):
        assert matches(by), by
    # teams, keys and users are the dimensions a key carries; user of the blue key
    assert live(up, "user")["bo"]["requests"] == 4
