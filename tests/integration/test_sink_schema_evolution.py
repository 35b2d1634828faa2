"""A file written before a schema change and one after read together; dead letters; `tail`."""

from __future__ import annotations

import asyncio
import json

import orjson
import pyarrow.parquet as pq
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner

from schemas import LLMRequest, Violation, decode, encode
from sinks.consumer import Sink
from sinks.query import run_query
from sinks.settings import SinkSettings
from tests.support.polling import wait_until
from tests.support.sink_trail import make_events, produce


async def send_raw(kafka, topic: str, values: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    producer = AIOKafkaProducer(**kafka.client_kwargs(), acks="all")
    await producer.start()
    try:
        for v in values:
            await producer.send_and_wait(topic, v, key=b"evolve", partition=0)
    finally:
        await producer.stop()


async def wait_events(sink: Sink, n: int, timeout_s: float = 30) -> None:
    await wait_until(lambda: sink.stats.events >= n, timeout_s, f"{n} events stored")


async def test_new_field_becomes_a_column_and_old_files_still_read(  # type: ignore[no-untyped-def]
    kafka_settings, tmp_path
) -> None:
    settings = SinkSettings(
        kafka=kafka_settings,
        target=str(tmp_path / "trail"),
        group_id="g-evolve",
        idle_flush_s=0.2,
        fsync=False,
    )
    old = [e for e in make_events(40, seed=3) if isinstance(e, LLMRequest)]
    newer = [e for e in make_events(40, seed=4) if isinstance(e, LLMRequest)]
    # A newer producer adds an optional field (additive v1 change) this sink does not know.
    newer_values = [orjson.dumps({**orjson.loads(encode(e)), "tenant": "acme"}) for e in newer]
    bad_values = [b"{not json", orjson.dumps({"type": "llm.request.v1", "event_id": "x"})]
    topic = kafka_settings.topics.requests

    sink = Sink(settings)
    task = asyncio.create_task(sink.run())
    try:
        await send_raw(kafka_settings, topic, [encode(e) for e in old])
        await wait_events(sink, len(old))
        await send_raw(kafka_settings, topic, [*newer_values, *bad_values])
        await wait_events(sink, len(old) + len(newer))
        await wait_until(lambda: sink.stats.dead_letters >= len(bad_values), 30, "dead letters")
    finally:
        sink.stop()
        await task

    files = sorted((tmp_path / "trail" / "requests").rglob("*.parquet"))
    assert len(files) >= 2
    columns = [set(pq.read_schema(f).names) for f in files]
    assert any("tenant" in c for c in columns) and any("tenant" not in c for c in columns)

    _, rows = run_query(
        settings,
        "SELECT tenant, count(*), count(DISTINCT event_id) FROM requests GROUP BY 1 ORDER BY 1",
    )
    assert rows == [("acme", len(newer), len(newer)), (None, len(old), len(old))]

    # The two bad records went to the dead-letter topic with a reason; `tail` shows them.
    from modeltrail.cmd_query import app

    env = {
        "MODELTRAIL_KAFKA__BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "MODELTRAIL_KAFKA__TOPIC_PREFIX": kafka_settings.topic_prefix,
    }
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["tail", "deadletter", "--from-beginning", "--max", "2", "--format", "json"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    letters = [decode(line) for line in result.output.splitlines()]
    assert {d.offset for d in letters} == {len(old) + len(newer), len(old) + len(newer) + 1}  # type: ignore[union-attr]
    assert all(d.topic == topic and d.reason for d in letters)  # type: ignore[union-attr]


async def test_tail_filters_by_session_and_severity(kafka_settings) -> None:  # type: ignore[no-untyped-def]
    base = dict(owasp="LLM01", action="flag", enforced=True, target="request", source="t")
    events = [
        Violation(session_id="a", rule_id="r.info", severity="info", **base),  # type: ignore[arg-type]
        Violation(session_id="b", rule_id="r.crit", severity="critical", **base),  # type: ignore[arg-type]
        Violation(session_id="a", rule_id="r.high", severity="high", **base),  # type: ignore[arg-type]
        Violation(session_id="a", rule_id="r.crit2", severity="critical", **base),  # type: ignore[arg-type]
    ]
    await produce(kafka_settings, list(events))
    from modeltrail.cmd_query import app

    env = {
        "MODELTRAIL_KAFKA__BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "MODELTRAIL_KAFKA__TOPIC_PREFIX": kafka_settings.topic_prefix,
    }
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        [
            "tail",
            "violations",
            "--session",
            "a",
            "--severity",
            "high",
            "--from-beginning",
            "--max",
            "2",
            "--format",
            "json",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    seen = [json.loads(line)["rule_id"] for line in result.output.splitlines()]
    assert seen == ["r.high", "r.crit2"]
