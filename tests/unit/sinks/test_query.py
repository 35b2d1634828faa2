from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from schemas import LLMRequest, LLMResponse, SessionCommand, Violation, arrow_schema
from sinks.errors import QueryError
from sinks.keys import object_key
from sinks.parquet import events_table
from sinks.query import run_query
from sinks.settings import SinkSettings

T0 = datetime(2026, 4, 2, 8, 15, tzinfo=UTC)


def write(root: Path, table: str, t: pa.Table, offset: int) -> None:
    path = root / object_key("", table, "topic", 0, offset, T0)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(t, path, compression="zstd")


def req(sid: str, **kw: object) -> LLMRequest:
    return LLMRequest(
        source="t", session_id=sid, backend="b", provider="openai", path="/p", time=T0, **kw
    )  # type: ignore[arg-type]


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    # An "old" file written before `truncated` existed, and a "new" one with an extra column.
    old = events_table([req("a"), req("a")], arrow_schema(LLMRequest)).drop_columns(["truncated"])
    new = events_table([req("b", truncated=True)], arrow_schema(LLMRequest))
    new = new.append_column("tenant", pa.array(["acme"]))
    write(tmp_path, "requests", old, 0)
    write(tmp_path, "requests", new, 2)
    resp = LLMResponse(
        source="t",
        session_id="a",
        backend="b",
        provider="openai",
        path="/p",
        status_code=200,
        latency_ms=1.0,
        total_tokens=30,
        time=T0,
    )
    write(tmp_path, "responses", events_table([resp], arrow_schema(LLMResponse)), 0)
    v = Violation(
        source="t",
        session_id="a",
        rule_id="r",
        owasp="LLM01",
        severity="high",
        action="kill",
        enforced=True,
        target="request",
        time=T0,
    )
    write(tmp_path, "violations", events_table([v], arrow_schema(Violation)), 0)
    c = SessionCommand(
        source="t", session_id="a", command="kill", issuer="x", decision_id="d", time=T0
    )
    write(tmp_path, "session_commands", events_table([c], arrow_schema(SessionCommand)), 0)
    return tmp_path


def test_old_and_new_files_read_together(trail: Path) -> None:
    settings = SinkSettings(target=str(trail))
    cols, rows = run_query(
        settings, "SELECT session_id, truncated, tenant, dt, hour FROM requests ORDER BY session_id"
    )
    assert cols == ["session_id", "truncated", "tenant", "dt", "hour"]
    assert [r[:3] for r in rows] == [("a", None, None), ("a", None, None), ("b", True, "acme")]
    assert str(rows[0][3]) == "2026-04-02" and rows[0][4] == 8


def test_sessions_summary_and_empty_tables(trail: Path) -> None:
    settings = SinkSettings(target=str(trail))
    _, rows = run_query(
        settings,
        "SELECT session_id, requests, responses, total_tokens, violations, max_severity, killed "
        "FROM sessions ORDER BY session_id",
    )
    assert rows == [("a", 2, 1, 30, 1, "high", True), ("b", 1, 0, 0, 0, None, False)]
    assert run_query(settings, "SELECT count(*) FROM stream_windows")[1] == [(0,)]


def test_bad_sql_is_a_query_error(tmp_path: Path) -> None:
    with pytest.raises(QueryError):
        run_query(SinkSettings(target=str(tmp_path)), "SELECT nope FROM requests")


def test_cli_formats(trail: Path) -> None:
    from modeltrail.cmd_query import app

    runner = CliRunner()
    sql = "SELECT session_id, count(*) AS n FROM requests GROUP BY 1 ORDER BY 1"
    out = runner.invoke(app, ["query", sql, "--format", "json", "--target", str(trail)])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [{"session_id": "a", "n": 2}, {"session_id": "b", "n": 1}]
    out = runner.invoke(app, ["query", sql, "--format", "csv", "--target", str(trail)])
    assert out.output.splitlines() == ["session_id,n", "a,2", "b,1"]
    out = runner.invoke(app, ["query", sql, "--target", str(trail)])
    assert out.exit_code == 0 and "session_id" in out.output
    out = runner.invoke(app, ["query", "SELECT x FROM nowhere", "--target", str(trail)])
    assert out.exit_code == 1


def test_views_read_each_event_once_across_files_and_layouts(tmp_path: Path) -> None:
    events = [req("dup"), req("dup"), req("dup")]
    table = events_table(events, arrow_schema(LLMRequest))
    write(tmp_path, "requests", table, 0)  # a legacy key without the incarnation tag
    # The same events again in a file of the tagged layout (a spool replay, a conflict set aside).
    again = tmp_path / object_key("", "requests", "topic", 0, 7, T0, "0123456789abcdef")
    pq.write_table(table.slice(1), again, compression="zstd")
    settings = SinkSettings(target=str(tmp_path))
    _, rows = run_query(settings, "SELECT count(*), count(DISTINCT event_id) FROM requests")
    assert rows == [(3, 3)]
    _, rows = run_query(settings, "SELECT count(*) FROM requests_raw")
    assert rows == [(5,)]  # the files as written, every copy
    _, rows = run_query(settings, "SELECT requests FROM sessions WHERE session_id = 'dup'")
    assert rows == [(3,)]
