from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from proxy.control.history import query_history
from schemas.arrow import arrow_schema
from schemas.events import ChatMessage, EventEnvelope, LLMRequest, LLMResponse, Violation
from sinks.parquet import events_table

T0 = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)


def write(root: Path, table: str, events: list[EventEnvelope], offset: int = 0) -> None:
    first = events[0].time
    folder = root / table / f"dt={first:%Y-%m-%d}" / f"hour={first:%H}"
    folder.mkdir(parents=True, exist_ok=True)
    data = events_table(events, arrow_schema(type(events[0])))
    pq.write_table(data, folder / f"t.{table}+0+{offset:019d}.parquet")


def request(sid: str, at: datetime) -> LLMRequest:
    return LLMRequest(
        source="p",
        session_id=sid,
        time=at,
        backend="openai",
        provider="openai",
        path="/v1/chat/completions",
        model="gpt-x",
        messages=[ChatMessage(role="user", content="my secret prompt")],
    )


def test_missing_or_empty_trail_is_an_empty_history(tmp_path: Path) -> None:
    assert query_history(str(tmp_path / "nothing-here")) == []
    (tmp_path / "requests").mkdir()
    assert query_history(str(tmp_path)) == []


def test_history_unions_tables_filters_and_orders(tmp_path: Path) -> None:
    write(tmp_path, "requests", [request("s1", T0), request("s2", T0 + timedelta(seconds=1))])
    write(
        tmp_path,
        "responses",
        [
            LLMResponse(
                source="p",
                session_id="s1",
                time=T0 + timedelta(seconds=2),
                backend="openai",
                provider="openai",
                path="/v1/chat/completions",
                status_code=200,
                latency_ms=12.5,
                total_tokens=42,
                text="the answer",
            )
        ],
    )
    write(
        tmp_path,
        "violations",
        [
            Violation(
                source="w",
                session_id="s1",
                time=T0 + timedelta(seconds=3),
                rule_id="pii.email",
                owasp="LLM02",
                severity="high",
                action="kill",
                enforced=True,
                target="request",
            )
        ],
    )
    rows = query_history(str(tmp_path), session="s1")
    assert [r["type"] for r in rows] == [
        "audit.violation.v1",
        "llm.response.v1",
        "llm.request.v1",
    ]
    assert rows[0]["rule_id"] == "pii.email" and rows[1]["total_tokens"] == 42
    # metadata only: no prompt or response bodies leave through the history API
    assert all("messages" not in r and "text" not in r for r in rows)
    assert "my secret prompt" not in repr(rows)
    assert len(query_history(str(tmp_path))) == 4
    assert len(query_history(str(tmp_path), limit=2)) == 2
    assert [r["session_id"] for r in query_history(str(tmp_path), event_type="llm.request.v1")] == [
        "s2",
        "s1",
    ]
    assert query_history(str(tmp_path), session="nobody") == []
    late = query_history(str(tmp_path), since=T0 + timedelta(seconds=2, milliseconds=500))
    assert [r["type"] for r in late] == ["audit.violation.v1"]
