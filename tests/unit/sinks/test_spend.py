"""The `spend` view and `modeltrail spend` over a trail mixing pre-identity and new files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from modeltrail.cli import app
from schemas import LLMResponse, arrow_schema
from sinks.keys import object_key
from sinks.parquet import events_table
from sinks.query import run_query
from sinks.settings import SinkSettings
from sinks.spend import spend_report_sql

NOW = datetime.now(UTC).replace(microsecond=0)
IDENTITY = ["key_id", "team", "user", "cost_usd", "cached_input_tokens"]


def resp(sid: str, at: datetime, cost: float | None, **kw: object) -> LLMResponse:
    return LLMResponse(
        source="t", session_id=sid, backend="b", provider="openai", path="/p", time=at,
        status_code=200, latency_ms=1.0, input_tokens=10, output_tokens=20, total_tokens=30,
        cost_usd=cost, **kw,
    )  # type: ignore[arg-type]  # fmt: skip


def write(root: Path, events: list[LLMResponse], offset: int, drop: list[str]) -> None:
    table = events_table(events, arrow_schema(LLMResponse)).drop_columns(drop)
    path = root / object_key("", "responses", "topic", 0, offset, events[0].time)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    # Written before identity and cost existed: no such columns at all.
    write(tmp_path, [resp("old", NOW - timedelta(hours=1), None)], 0, IDENTITY)
    write(
        tmp_path,
        [
            resp("mk_a:s1", NOW - timedelta(hours=2), 0.5, key_id="mk_a", team="red", user="ana", model="gpt-4o"),
            resp("mk_a:s2", NOW - timedelta(hours=3), 0.25, key_id="mk_a", team="red", user="ana", model="gpt-4o"),
            resp("mk_b:s1", NOW - timedelta(hours=1), 1.0, key_id="mk_b", team="blue", model="claude-x"),
            resp("mk_b:s2", NOW - timedelta(hours=1), None, key_id="mk_b", team="blue", model="mystery"),
            resp("mk_b:s3", NOW - timedelta(days=9), 100.0, key_id="mk_b", team="blue", model="claude-x"),
        ],
        1,
        [],
    )  # fmt: skip
    return tmp_path


def test_spend_by_team_over_old_and_new_files(trail: Path) -> None:
    cols, rows = run_query(SinkSettings(target=str(trail)), spend_report_sql("team", 7 * 86400))
    got = {r[0]: dict(zip(cols, r, strict=True)) for r in rows}
    assert list(got) == ["blue", "red", "-"]  # most expensive first; the 9-day-old row is out
    assert got["blue"]["cost_usd"] == pytest.approx(1.0) and got["blue"]["unpriced"] == 1
    assert got["red"]["cost_usd"] == pytest.approx(0.75) and got["red"]["responses"] == 2
    assert got["-"]["unpriced"] == 1  # the old file: tokens, no cost


def test_spend_only_old_files_still_queries(tmp_path: Path) -> None:
    write(tmp_path, [resp("old", NOW, None)], 0, IDENTITY)
    _, rows = run_query(SinkSettings(target=str(tmp_path)), "SELECT key_id, cost_usd FROM spend")
    assert rows == [(None, None)]


def test_spend_cli(trail: Path) -> None:
    out = CliRunner().invoke(
        app, ["spend", "--by", "model", "--since", "30d", "--json", "--target", str(trail)]
    )
    assert out.exit_code == 0, out.output
    rows = {r["model"]: r for r in json.loads(out.output)}
    assert rows["claude-x"]["cost_usd"] == pytest.approx(101.0)
    assert rows["gpt-4o"]["input_tokens"] == 20
    bad = CliRunner().invoke(app, ["spend", "--by", "planet", "--target", str(trail)])
    assert bad.exit_code != 0


async def test_dashboard_spend_today_reads_the_trail_once_per_ttl(tmp_path: Path) -> None:
    from proxy.control.spend import TrailSpend
    from sinks.settings import TrailLocation

    write(tmp_path, [resp("mk_a:s", NOW, 0.5, key_id="mk_a", team="red")], 0, [])
    source = TrailSpend(TrailLocation(target=str(tmp_path)), ttl_s=3600)
    assert await source() == pytest.approx(0.5)
    write(tmp_path, [resp("mk_a:t", NOW, 0.25, key_id="mk_a", team="red")], 1, [])
    assert await source() == pytest.approx(0.5)  # cached
    assert await TrailSpend(TrailLocation(target=str(tmp_path)), ttl_s=0)() == pytest.approx(0.75)
