"""The dashboard's sandboxed SQL and timeline read an S3 trail (SeaweedFS), nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from proxy.control.errors import QueryRejected
from proxy.control.history import history_trail
from proxy.control.trail import TrailReader
from schemas.events import LLMRequest
from tests.support.sink_trail import put_trail_files, s3_history_settings

T0 = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)


async def test_sandboxed_sql_and_timeline_over_s3(s3_server, s3_prefix, tmp_path) -> None:  # type: ignore[no-untyped-def]
    request = LLMRequest(
        source="p", session_id="dash-s3", time=T0, backend="b", provider="openai", path="/v1/x"
    )
    await put_trail_files(s3_server, s3_prefix, [("requests", request)])
    trail = TrailReader(history_trail(s3_history_settings(s3_server, s3_prefix)))
    columns, rows, _ = trail.query("SELECT session_id, path FROM requests")
    assert columns == ["session_id", "path"] and rows == [["dash-s3", "/v1/x"]]
    (tmp_path / "local.txt").write_text("not for you")
    with pytest.raises(QueryRejected):
        trail.query(f"SELECT * FROM read_text('{tmp_path / 'local.txt'}')")
    timeline = trail.timeline("dash-s3", content=False)
    assert [e["kind"] for e in timeline] == ["request"]
    assert "messages" not in timeline[0]
