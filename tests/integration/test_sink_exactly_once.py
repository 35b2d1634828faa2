"""100,000 events across partitions land in Parquet on S3 exactly once."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from sinks.consumer import Sink
from tests.support.polling import wait_until
from tests.support.sink_trail import make_events, produce, s3_sink_settings, trail_ids


async def test_100k_events_exactly_once_on_s3(kafka_settings, s3_server, s3_prefix) -> None:  # type: ignore[no-untyped-def]
    events = make_events(100_000)
    settings = s3_sink_settings(
        kafka_settings, s3_server, s3_prefix, max_rows=15_000, idle_flush_s=0.5
    )
    await produce(kafka_settings, events)
    sink = Sink(settings)
    task = asyncio.create_task(sink.run())
    await wait_until(lambda: sink.stats.events >= len(events) or task.done(), 120, "all events")
    assert not task.done(), task
    sink.stop()
    await task

    rows, distinct, ids = await asyncio.to_thread(trail_ids, settings)
    assert rows == distinct == len(events)
    assert ids == {e.event_id for e in events}
    assert sink.stats.files >= 4 * 3  # several partitions of several topics

    # Objects follow the key scheme and each table holds its own type.
    keys = [
        o["Key"]
        for o in s3_server.client().list_objects_v2(
            Bucket=s3_server.bucket, Prefix=s3_prefix, MaxKeys=1000
        )["Contents"]
    ]
    assert all("/dt=" in k and "/hour=" in k and k.endswith(".parquet") for k in keys)

    # ... and the CLI counts them through DuckDB.
    from modeltrail.cmd_query import app

    result = CliRunner().invoke(
        app,
        [
            "query",
            "SELECT count(*) AS n FROM requests",
            "--format",
            "json",
            "--target",
            settings.target,
        ],
        env={
            "MODELTRAIL_SINK__S3_ENDPOINT_URL": s3_server.endpoint,
            "MODELTRAIL_SINK__S3_ACCESS_KEY_ID": s3_server.access_key,
            "MODELTRAIL_SINK__S3_SECRET_ACCESS_KEY": s3_server.secret_key,
        },
    )
    assert result.exit_code == 0, result.output
    expected = sum(1 for e in events if e.type == "llm.request.v1")
    assert json.loads(result.output) == [{"n": expected}]
