"""The dashboard in Chromium against a real stack: sign-in, live pages, the trail.

Each test drives the real UI (no API shortcut for what the test is about) and
its page is watched: a console error, a page error, a failed request or one to
another origin fails it.
"""

from __future__ import annotations

import csv
import io
import re
import uuid

import httpx
from playwright.sync_api import Page, expect

from modeltrail.demo import attack_texts
from tests.support.browser import KEYS, Dashboard, Stack

SLOW = 30_000  # ms: the streams worker and the sink take seconds on a busy machine


def sid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_login_refuses_a_bad_key_and_keeps_a_good_one_for_the_tab(
    page: Page, dash: Dashboard
) -> None:
    page.goto(dash.stack.ui)
    dash.shot(page, "login")
    dash.allow_error_from("/control/whoami")  # the bad key's 401
    page.get_by_label("Control key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    page.get_by_label("Control key").fill(KEYS["kill"][1])
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("whoami")).to_have_text("operator · kill, read")
    stored = page.evaluate("() => sessionStorage.getItem('modeltrail.control-key')")
    assert stored == KEYS["kill"][1]
    assert page.evaluate("() => localStorage.length") == 0  # never beyond the tab
    page.reload()
    expect(page.get_by_test_id("whoami")).to_have_text("operator · kill, read")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Control key")).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('modeltrail.control-key')") is None


def test_overview_charts_update_live(page: Page, dash: Dashboard, stack: Stack) -> None:
    dash.login(page)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    session = sid("ov")
    for _ in range(5):
        assert stack.chat(session).status_code == 200
    # The requests tile counts what went through the proxy, without a reload.
    total = page.get_by_test_id("tile-rps").locator(".tile-note")
    expect(total).not_to_have_text("0 total", timeout=10_000)
    expect(page.get_by_test_id("tile-latency")).to_contain_text(re.compile(r"\d+\.\d+ / \d"))
    assert page.locator(".chart canvas").count() >= 3  # uPlot drew the three charts
    expect(page.get_by_test_id("health-broker")).to_contain_text("ok")
    expect(page.get_by_test_id("health-sink")).to_contain_text("ok", timeout=SLOW)
    expect(page.get_by_test_id("health-streams")).to_contain_text("ok", timeout=SLOW)
    # Spend today comes from the trail's `spend` view (identity and the price table).
    expect(page.get_by_test_id("tile-spend")).to_contain_text(re.compile(r"\$\d"))
    page.wait_for_timeout(2500)  # one more sample so the charts have points
    dash.shot(page, "overview")


def test_traffic_appears_in_the_sessions_table_without_reload(
    page: Page, dash: Dashboard, stack: Stack
) -> None:
    dash.login(page, "read")
    dash.open(page, "#/sessions")
    session = sid("live")
    row = page.locator(f'tr[data-session="{session}"]')
    expect(row).to_have_count(0)
    for _ in range(3):
        assert stack.chat(session).status_code == 200
    expect(row).to_be_visible(timeout=10_000)
    expect(row.locator("td").nth(4)).to_have_text("3")
    # Filters and sort go to the server: a model filter that matches nothing empties it.
    page.get_by_label("Model").fill("no-such-model")
    page.get_by_label("Model").press("Enter")
    expect(row).to_have_count(0)
    page.get_by_label("Model").fill("gpt-4o-mini")
    page.get_by_label("Model").press("Enter")
    expect(row).to_be_visible()
    page.get_by_role("button", name="Requests").click()
    expect(page.locator('th[aria-sort="descending"]')).to_contain_text("Requests")
    dash.shot(page, "sessions")


def test_an_attack_appears_in_the_live_violation_feed(
    page: Page, dash: Dashboard, stack: Stack
) -> None:
    dash.login(page, "read")
    dash.open(page, "#/violations")
    expect(page.get_by_test_id("feed-state")).to_have_text("live", timeout=10_000)
    attacker = sid("attack")
    injection, _, _ = attack_texts()
    blocked = stack.chat(attacker, injection)
    assert blocked.status_code == 403, blocked.text
    rows = page.locator(f'tr[data-session="{attacker}"]')
    injection_row = rows.filter(has_text="LLM01").first
    expect(injection_row).to_be_visible(timeout=SLOW)
    expect(injection_row.locator("code.excerpt").first).not_to_be_empty()
    page.get_by_label("Severity").select_option("info")
    expect(page.locator(f'tr[data-session="{attacker}"]')).to_have_count(0)
    page.get_by_label("Severity").select_option("")
    dash.shot(page, "violations")
    row = page.locator(f'tr[data-session="{attacker}"]').first
    row.get_by_role("link", name=attacker).click()
    expect(page.get_by_role("heading", name=re.compile("Session"))).to_contain_text(attacker)


def test_session_detail_shows_the_timeline_from_the_trail(
    page: Page, dash: Dashboard, stack: Stack
) -> None:
    session = sid("story")
    assert stack.chat(session, "What is a consumer group?").status_code == 200
    injection, _, _ = attack_texts()
    assert stack.chat(session, injection).status_code == 403
    dash.login(page)
    dash.open(page, f"#/session/{session}")
    timeline = page.get_by_role("list", name="Timeline")
    # Requests and responses come from the Parquet files the sink wrote.
    expect(timeline.locator('[data-kind="request"]').first).to_be_visible(timeout=SLOW)
    expect(timeline.locator('[data-kind="response"]').first).to_be_visible(timeout=SLOW)
    expect(timeline.locator('[data-kind="violation"]').first).to_be_visible(timeout=SLOW)
    expect(page.get_by_role("heading", name=re.compile("Timeline"))).not_to_contain_text(
        "(0 from the trail"
    )
    # The admin key sees the prompt text (content scope); the evidence stays masked.
    expect(timeline).to_contain_text("What is a consumer group?")
    expect(page.get_by_test_id("session-state")).to_contain_text("flagged")
    dash.shot(page, "session-detail")


def test_the_trail_page_runs_sql_and_downloads_csv(
    page: Page, dash: Dashboard, stack: Stack
) -> None:
    session = sid("sql")
    assert stack.chat(session).status_code == 200
    dash.login(page)
    dash.open(page, "#/trail")
    sql = f"SELECT session_id, count(*) AS n FROM requests WHERE session_id = '{session}' GROUP BY ALL"
    page.get_by_label(re.compile("^SQL over")).fill(sql)
    # The sink flushes within seconds: run until the row is there.
    result = page.get_by_role("table", name="Result")
    for _ in range(30):
        page.get_by_role("button", name="Run").click()
        expect(page.get_by_test_id("row-count")).to_be_visible()
        if result.locator("tbody tr").count() == 1:
            break
        page.wait_for_timeout(1000)
    expect(result.locator("tbody tr")).to_have_count(1)
    expect(result).to_contain_text(session)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(open(download.path()).read())))
    assert rows == [["session_id", "n"], [session, "1"]]
    dash.shot(page, "trail")
    # Only one SELECT over the trail: a write or a file read is refused, in the page too.
    dash.allow_error_from("/control/trail/query")
    page.get_by_label(re.compile("^SQL over")).fill("COPY requests TO '/tmp/x.csv'")
    with page.expect_response(re.compile("/control/trail/query$")) as refused:
        page.get_by_role("button", name="Run").click()
    assert refused.value.status == 400
    expect(page.get_by_role("alert")).to_contain_text("only one SELECT")


def test_trail_sql_is_confined_to_the_trail(stack: Stack) -> None:
    with stack.control("admin") as admin:
        for sql in (
            "SELECT * FROM read_text('/etc/passwd')",
            "SELECT * FROM read_csv('/etc/hostname')",
            "SELECT 1; SELECT 2",
            "INSTALL httpfs",
        ):
            resp = admin.post("/control/trail/query", json={"sql": sql})
            assert resp.status_code == 400, (sql, resp.text)
    with stack.control("read") as viewer:
        resp = viewer.post("/control/trail/query", json={"sql": "SELECT 1"})
        assert resp.status_code == 403  # SQL can read prompts: content scope only
    anonymous = httpx.post(f"{stack.control_url}/control/trail/query", json={"sql": "SELECT 1"})
    assert anonymous.status_code == 401
