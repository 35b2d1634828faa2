"""`/control/history` reads an S3 trail through the one trail reader (no DuckDB httpfs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from proxy.control.errors import HistoryError
from proxy.control.history import history_trail, query_history
from proxy.settings import ProxySettings
from schemas.arrow import arrow_schema
from schemas.events import LLMRequest, Violation
from sinks.keys import object_key
from sinks.object_store import S3Store
from sinks.parquet import events_table, to_parquet

T0 = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)


async def test_history_reads_the_s3_trail_with_the_proxy_settings(s3_server, s3_prefix) -> None:  # type: ignore[no-untyped-def]
    store = S3Store(
        s3_server.bucket,
        endpoint_url=s3_server.endpoint,
        region=s3_server.region,
        access_key_id=s3_server.access_key,
        secret_access_key=s3_server.secret_key,
    )
    request = LLMRequest(
        source="p", session_id="s3-1", time=T0, backend="b", provider="openai", path="/v1/x"
    )
    violation = Violation(
        source="w",
        session_id="s3-1",
        time=T0 + timedelta(seconds=1),
        rule_id="pii.email",
        owasp="LLM02",
        severity="high",
        action="flag",
        enforced=True,
        target="request",
    )
    for table, event in (("requests", request), ("violations", violation)):
        data = to_parquet(events_table([event], arrow_schema(type(event))))
        await store.put(object_key(s3_prefix, table, f"t.{table}", 0, 0, event.time), data)
    await store.close()

    settings = ProxySettings(
        history_path=f"s3://{s3_server.bucket}/{s3_prefix}",
        history_s3_endpoint_url=s3_server.endpoint,
        history_s3_region=s3_server.region,
        history_s3_access_key_id=SecretStr(s3_server.access_key),
        history_s3_secret_access_key=SecretStr(s3_server.secret_key),
    )
    rows = query_history(history_trail(settings), session="s3-1")
    assert [r["type"] for r in rows] == ["audit.violation.v1", "llm.request.v1"]

    wrong = settings.model_copy(update={"history_path": "s3://no-such-bucket-here/trail"})
    with pytest.raises(HistoryError, match="no such bucket"):
        query_history(history_trail(wrong), session="s3-1")
