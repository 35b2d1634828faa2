"""The dashboard's server side without servers: feed, sampler, paging, trail SQL, /ui, scopes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from proxy.control import create_control_app
from proxy.control.errors import QueryRejected
from proxy.control.feed import ViolationFeed
from proxy.control.overview import MetricSampler, quantile
from proxy.control.paging import page_sessions
from proxy.control.trail import TrailReader, to_csv
from proxy.enforcement import EnforcementService
from proxy.enforcement.session_store import SessionInfo
from proxy.metrics import ProxyMetrics
from proxy.settings import ProxySettings
from schemas.events import Evidence, LLMRequest, Violation
from schemas.settings import KafkaSettings
from sinks.settings import TrailLocation
from tests.support.proxy_fakes import CONTROL_KEYS

READ = {"authorization": "Bearer read-key-123"}
KILL = {"authorization": "Bearer kill-key-456"}
ADMIN = {"authorization": "Bearer admin-key-789"}
NOWHERE = KafkaSettings(bootstrap_servers="127.0.0.1:9")


def violation(
    session: str = "s1", *, severity: str = "high", owasp: str = "LLM01", rule: str = "PI-001"
) -> Violation:
    return Violation(
        source="streams-1",
        session_id=session,
        rule_id=rule,
        owasp=owasp,
        severity=severity,  # type: ignore[arg-type]
        action="flag",
        enforced=True,
        target="request",
        evidence=[Evidence(field="messages[0].content", start=0, end=6, excerpt="Ign***")],
    )


# --- the feed ---------------------------------------------------------------------------


async def test_feed_counts_each_violation_once_and_filters() -> None:
    feed = ViolationFeed(NOWHERE)
    first = violation("a")
    assert feed.add(first)
    assert not feed.add(first)  # at-least-once from Kafka: a replayed record counts once
    feed.add(violation("b", severity="critical", owasp="LLM02", rule="PII-001"))
    assert [v["session_id"] for v in feed.recent()] == ["b", "a"]
    assert [v["session_id"] for v in feed.recent(severity="high")] == ["a"]
    assert [v["session_id"] for v in feed.recent(owasp="LLM02")] == ["b"]
    assert feed.recent(session="zzz") == []
    assert feed.hits == {"PI-001": 1, "PII-001": 1}
    minute = feed.per_minute(3)[-1]
    assert minute["total"] == 2
    assert minute["owasp"] == {"LLM01": 1, "LLM02": 1}
    assert minute["severity"] == {"high": 1, "critical": 1}
    assert feed.flagged_since(0) == 2
    assert feed.recent()[0]["evidence"][0]["excerpt"] == "Ign***"


async def test_feed_pushes_to_subscribers_and_cuts_off_a_slow_one() -> None:
    feed = ViolationFeed(NOWHERE, subscriber_queue=2)
    async with feed.subscribe() as fast, feed.subscribe() as slow:
        feed.add(violation("one"))
        item = await asyncio.wait_for(fast.get(), 1)
        assert item is not None and item["session_id"] == "one"
        feed.add(violation("two"))
        assert (await fast.get() or {})["session_id"] == "two"
        feed.add(violation("three"))  # `slow` never read: its queue is full
        assert feed.subscribers == 1
        drained = [slow.get_nowait() for _ in range(slow.qsize())]
        assert drained == [None]  # its stream ends; the browser reconnects


async def test_feed_per_minute_keeps_an_hour_and_empty_minutes() -> None:
    feed = ViolationFeed(NOWHERE)
    old = datetime.now(UTC) - timedelta(hours=3)
    v = violation("old").model_copy(update={"time": old})
    feed.add(v)
    feed.add(violation("new"))
    assert sum(m["total"] for m in feed.per_minute(60)) == 1
    assert len(feed.per_minute(30)) == 30


async def test_feed_without_a_broker_reports_it_and_does_not_block() -> None:
    feed = ViolationFeed(NOWHERE, replay_timeout_s=0.3)
    assert feed.kick() is False  # returns at once
    assert await feed.ensure_started() is False
    assert feed.error and "unreachable" in feed.error
    await feed.stop()


# --- the sampler ------------------------------------------------------------------------


def test_quantile_interpolates_inside_a_bucket() -> None:
    buckets = [(0.001, 0.0), (0.002, 10.0), (0.005, 10.0), (float("inf"), 10.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.0015)
    assert quantile(0.99, buckets) == pytest.approx(0.00199)
    assert quantile(0.5, [(0.001, 0.0), (float("inf"), 0.0)]) is None


def test_sampler_turns_counters_into_rates_and_added_latency() -> None:
    metrics = ProxyMetrics()
    sampler = MetricSampler(metrics.requests, metrics.overhead)
    sampler.sample(now=100.0)
    for _ in range(20):
        metrics.observe("b", "openai", "ok", 200, 0.01, 0.005, None, None)
        metrics.overhead.observe(0.0004)
    sampler.sample(now=100.5)  # younger than min_interval_s: ignored
    sampler.sample(now=102.0)
    (point,) = sampler.series()
    assert point["rps"] == pytest.approx(10.0)
    assert 0.25 < point["p50_ms"] <= 0.5
    assert sampler.totals()["requests"] == 20


# --- paging -----------------------------------------------------------------------------


def test_page_sessions_filters_sorts_and_slices() -> None:
    now = datetime.now(UTC)
    found = [
        SessionInfo(
            session_id=f"s{i}",
            requests=i,
            model="m-a" if i % 2 else "m-b",
            api_key_fingerprint=f"fp{i % 3}",
            last_seen=now - timedelta(seconds=i),
        )
        for i in range(10)
    ]
    found.append(SessionInfo(session_id="never", model="m-a"))  # no last_seen
    total, page = page_sessions(found, model="m-a", sort="requests", order="asc", limit=2)
    assert total == 6 and [s.session_id for s in page] == ["never", "s1"]
    total, page = page_sessions(found, sort="last_seen", order="desc", offset=9, limit=5)
    assert total == 11 and [s.session_id for s in page] == ["s9", "never"]  # missing last
    total, page = page_sessions(found, key="fp2", sort="session_id", order="desc")
    assert [s.session_id for s in page] == ["s8", "s5", "s2"]


# --- trail SQL --------------------------------------------------------------------------


def test_trail_sql_reads_the_views_and_nothing_else(tmp_path: Path) -> None:
    trail = TrailReader(TrailLocation(target=str(tmp_path / "trail")), max_rows=3)
    columns, rows, truncated = trail.query("SELECT count(*) AS n FROM requests")
    assert columns == ["n"] and rows == [[0]] and not truncated
    _, rows, truncated = trail.query("SELECT * FROM range(10)")
    assert len(rows) == 3 and truncated
    (tmp_path / "secret.txt").write_text("top secret")
    for attack in (
        f"SELECT * FROM read_text('{tmp_path / 'secret.txt'}')",
        "SELECT * FROM read_csv('/etc/passwd')",
        f"COPY (SELECT 1) TO '{tmp_path / 'trail' / 'x.csv'}'",
        "SELECT 1; SELECT 2",
        "ATTACH '/tmp/evil.db'",
        "SET enable_external_access = true",
        "INSTALL httpfs",
        "SELECT * FROM nope(",
    ):
        with pytest.raises(QueryRejected):
            trail.query(attack)
    assert not (tmp_path / "trail" / "x.csv").exists()


def test_trail_sql_is_interrupted_after_the_timeout(tmp_path: Path) -> None:
    trail = TrailReader(TrailLocation(target=str(tmp_path)), timeout_s=0.3)
    with pytest.raises(QueryRejected, match="ran over"):
        trail.query("SELECT count(*) FROM range(100000000000) a")


def test_csv_quotes_and_nests() -> None:
    text = to_csv(["a", "b"], [["x,y", {"k": 1}], [None, [1, 2]]])
    assert text.splitlines() == ["a,b", '"x,y","{""k"": 1}"', ',"[1, 2]"']


# --- the routes -------------------------------------------------------------------------


@pytest.fixture
async def control(tmp_path: Path) -> httpx.AsyncClient:
    settings = ProxySettings(
        control_keys=CONTROL_KEYS,
        kafka=NOWHERE,
        history_path=str(tmp_path / "trail"),
        enforcement_replay_timeout_s=0.3,
    )
    enforcement = EnforcementService(settings)
    app = create_control_app(settings, enforcement, None)
    await enforcement.store.record(
        [
            LLMRequest(
                source="p",
                session_id=f"s{i}",
                backend="b",
                provider="openai",
                path="/v1/x",
                model="m",
                api_key_fingerprint="abc",
            )
            for i in range(30)
        ]
    )
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:9090"
    )


async def test_ui_page_and_assets_carry_a_strict_csp(control: httpx.AsyncClient) -> None:
    async with control:
        root = await control.get("/ui")
        assert root.status_code == 308 and root.headers["location"] == "/ui/"
        page = await control.get("/ui/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "<script>" not in page.text and "http" not in page.text.replace("http-equiv", "")
        js = await control.get("/ui/static/app.js")
        assert js.status_code == 200 and "javascript" in js.headers["content-type"]
        assert js.headers["x-frame-options"] == "DENY"
        assert (await control.get("/ui/static/../app.py")).status_code == 404
        assert "content-security-policy" not in (await control.get("/control/health")).headers


async def test_dashboard_routes_need_a_key_and_the_right_scope(
    control: httpx.AsyncClient,
) -> None:
    async with control:
        for path in ("/control/whoami", "/control/overview", "/control/violations"):
            assert (await control.get(path)).status_code == 401, path
            assert (await control.get(path, headers=READ)).status_code == 200, path
        assert (await control.get("/control/whoami", headers=KILL)).status_code == 403
        me = (await control.get("/control/whoami", headers=READ)).json()
        assert me["id"] == "viewer" and me["kill"] is False and me["content"] is False
        sql = {"sql": "SELECT 1 AS one"}
        assert (
            await control.post("/control/trail/query", json=sql, headers=READ)
        ).status_code == 403
        ok = await control.post("/control/trail/query", json=sql, headers=ADMIN)
        assert ok.json() == {"columns": ["one"], "rows": [[1]], "count": 1, "truncated": False}
        csv_resp = await control.post("/control/trail/query.csv", json=sql, headers=ADMIN)
        assert csv_resp.text.splitlines() == ["one", "1"]
        assert "attachment" in csv_resp.headers["content-disposition"]
        bad = await control.post(
            "/control/trail/query", json={"sql": "DROP TABLE x"}, headers=ADMIN
        )
        assert bad.status_code == 400 and bad.json()["error"]["message"]


async def test_timeline_hides_text_from_a_read_key(control: httpx.AsyncClient) -> None:
    async with control:
        viewer = (await control.get("/control/sessions/s1/timeline", headers=READ)).json()
        assert viewer["content"] is False and viewer["session"]["requests"] == 1
        assert viewer["timeline"] == [] and viewer["trail_error"] is None
        root = (await control.get("/control/sessions/s1/timeline", headers=ADMIN)).json()
        assert root["content"] is True


async def test_sessions_are_paged_and_sorted_by_the_server(control: httpx.AsyncClient) -> None:
    async with control:
        page = (
            await control.get(
                "/control/sessions",
                params={"sort": "session_id", "order": "asc", "offset": 10, "limit": 5},
                headers=READ,
            )
        ).json()
        assert page["total"] == 30 and page["offset"] == 10 and page["count"] == 5
        assert [s["session_id"] for s in page["sessions"]] == sorted(f"s{i}" for i in range(30))[
            10:15
        ]
        none = await control.get("/control/sessions", params={"model": "x"}, headers=READ)
        assert none.json()["total"] == 0
        keyed = await control.get("/control/sessions", params={"key": "ab"}, headers=READ)
        assert keyed.json()["total"] == 30
        assert (
            await control.get("/control/sessions", params={"sort": "nope"}, headers=READ)
        ).status_code == 422
        plain = (await control.get("/control/sessions", headers=READ)).json()
        assert plain["count"] == 30 and plain["total"] is None  # the old shape still works


async def test_overview_answers_with_the_broker_down(control: httpx.AsyncClient) -> None:
    async with control:
        data = (await control.get("/control/overview", headers=READ)).json()
        assert data["sessions"]["total"] == 30
        assert data["spend_today"] == {
            "usd": None,
            "available": False,
            "note": data["spend_today"]["note"],
        }
        assert "issue 12" in data["spend_today"]["note"]
        assert data["health"]["feed"]["ok"] is False
        assert len(data["violations"]["per_minute"]) == 30
