"""The dashboard's sandboxed SQL and timeline read an S3 trail (SeaweedFS), nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from proxy.control.errors import QueryRejected
from proxy.control.history import history_trail
from proxy.control.trail import TrailReader
from proxy.settings import ProxySettings
from schemas.arrow import arrow_schema
from schemas.events import LLMRequest
from sinks.keys import object_key
from sinks.object_store import S3Store
from sinks.parquet import events_table, to_parquet

T0 = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)


async def test_sandboxed_sql_and_timeline_over_s3(s3_server, s3_prefix, tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = S3Store(
        s3_server.bucket,
        endpoint_url=s3_server.endpoint,
        region=s3_server.region,
        access_key_id=s3_server.access_key,
        secret_access_key=s3_server.secret_key,
    )
    request = LLMRequest(
        source="p", session_id="dash-s3", time=T0, backend="b", provider="openai", path="/v1/x"
    )
    data = to_parquet(events_table([request], arrow_schema(LLMRequest)))
    await store.put(object_key(s3_prefix, "requests", "t.requests", 0, 0, T0), data)
    await store.close()
    settings = ProxySettings(
        history_path=f"s3://{s3_server.bucket}/{s3_prefix}",
        history_s3_endpoint_url=s3_server.endpoint,
        history_s3_region=s3_server.region,
        history_s3_access_key_id=SecretStr(s3_server.access_key),
        history_s3_secret_access_key=SecretStr(s3_server.secret_key),
    )
    trail = TrailReader(history_trail(settings))
    columns, rows, _ = trail.query("SELECT session_id, path FROM requests")
    assert columns == ["session_id", "path"] and rows == [["dash-s3", "/v1/x"]]
    (tmp_path / "local.txt").write_text("not for you")
    with pytest.raises(QueryRejected):
        trail.query(f"SELECT * FROM read_text('{tmp_path / 'local.txt'}')")
    timeline = trail.timeline("dash-s3", content=False)
    assert [e["kind"] for e in timeline] == ["request"]
    assert "messages" not in timeline[0]
