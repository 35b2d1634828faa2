"""`/control/history` reads an S3 trail through the one trail reader (no DuckDB httpfs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from proxy.control.errors import HistoryError
from proxy.control.history import history_trail, query_history
from schemas.events import LLMRequest, Violation
from tests.support.sink_trail import put_trail_files, s3_history_settings

T0 = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)


async def test_history_reads_the_s3_trail_with_the_proxy_settings(s3_server, s3_prefix) -> None:  # type: ignore[no-untyped-def]
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
    await put_trail_files(s3_server, s3_prefix, [("requests", request), ("violations", violation)])
    settings = s3_history_settings(s3_server, s3_prefix)
    rows = query_history(history_trail(settings), session="s3-1")
    assert [r["type"] for r in rows] == ["audit.violation.v1", "llm.request.v1"]

    wrong = settings.model_copy(update={"history_path": "s3://no-such-bucket-here/trail"})
    with pytest.raises(HistoryError, match="no such bucket"):
        query_history(history_trail(wrong), session="s3-1")
