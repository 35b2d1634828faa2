"""The dashboard's controls in Chromium: kill and resume, scopes, policy, layout, headers.

The attacker's view first: a `read` key must not kill, whatever the page shows;
the page must load nothing from elsewhere and run no inline script.
"""

from __future__ import annotations

import uuid

import httpx
from playwright.sync_api import Page, expect

from tests.support.browser import KEYS, Dashboard, Stack


def sid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_kill_blocks_the_next_request_and_resume_lifts_it(
    page: Page, dash: Dashboard, stack: Stack
) -> None:
    session = sid("victim")
    assert stack.chat(session).status_code == 200
    dash.login(page, "kill")
    dash.open(page, "#/sessions")
    row = page.locator(f'tr[data-session="{session}"]')
    expect(row).to_be_visible(timeout=10_000)
    row.get_by_role("button", name="Kill…").click()
    form = row.get_by_role("form")
    expect(form.get_by_label("Reason")).to_be_focused()
    form.get_by_label("Reason").fill("exfiltration attempt")
    form.get_by_label("Block").select_option("duration")
    form.get_by_label("Seconds").fill("600")
    form.get_by_role("button", name="Confirm kill").click()
    expect(row.locator("td.state")).to_contain_text("killed")
    refused = stack.chat(session)
    assert refused.status_code == 403, refused.text
    assert "killed" in refused.text or "session" in refused.text
    # The detail page tells the same story: killed, by whom, why.
    row.get_by_role("link", name=session).click()
    expect(page.get_by_test_id("session-state")).to_contain_text("killed")
    expect(page.get_by_role("main")).to_contain_text("operator:operator: exfiltration attempt")
    dash.shot(page, "session-killed")
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_test_id("session-state")).not_to_contain_text("killed")
    assert stack.chat(session).status_code == 200
    dash.open(page, "#/sessions")
    expect(row.locator("td.state")).not_to_contain_text("killed", timeout=10_000)


def test_a_read_key_sees_no_kill_button_and_a_forged_kill_is_refused(
    page: Page, dash: Dashboard, stack: Stack
) -> None:
    session = sid("viewer")
    assert stack.chat(session).status_code == 200
    dash.login(page, "read")
    dash.open(page, "#/sessions")
    row = page.locator(f'tr[data-session="{session}"]')
    expect(row).to_be_visible(timeout=10_000)
    expect(page.get_by_role("button", name="Kill…")).to_have_count(0)
    expect(page.get_by_role("columnheader", name="Action")).to_have_count(0)
    dash.open(page, f"#/session/{session}")
    expect(page.get_by_test_id("session-state")).to_be_visible()
    expect(page.get_by_role("button", name="Kill…")).to_have_count(0)
    # The key is in the page: forge the kill with it, as an attacker would, from the page.
    dash.allow_error_from("/kill")
    status = page.evaluate(
        """async (sid) => {
            const key = sessionStorage.getItem('modeltrail.control-key');
            const res = await fetch(`/control/sessions/${sid}/kill`, {
                method: 'POST',
                headers: {'Authorization': `Bearer ${key}`, 'Content-Type': 'application/json'},
                body: JSON.stringify({reason: 'forged', mode: 'permanent'}),
            });
            return res.status;
        }""",
        session,
    )
    assert status == 403
    assert stack.chat(session).status_code == 200  # still served
    # Prompts are hidden from it, and SQL over the trail is not offered.
    expect(page.get_by_role("main")).to_contain_text("lacks the content scope")
    dash.open(page, "#/trail")
    expect(page.get_by_role("main")).to_contain_text("needs a key with the content scope")
    expect(page.get_by_role("textbox")).to_have_count(0)
    dash.open(page, "#/policy")
    expect(page.get_by_role("table", name="Rules")).to_be_visible()
    expect(page.get_by_role("button", name="Reload policy files")).to_have_count(0)


def test_policy_page_shows_rules_hits_mode_and_validates(
    page: Page, dash: Dashboard, stack: Stack
) -> None:
    dash.login(page)
    dash.open(page, "#/policy")
    expect(page.get_by_test_id("policy-mode")).to_contain_text("enforce")
    rules = page.get_by_role("table", name="Rules")
    expect(rules.locator('tr[data-rule="PI-001"]')).to_be_visible()
    # PI-001 fired in earlier tests or fires now: its hit count is live from the feed.
    from modeltrail.demo import attack_texts

    assert stack.chat(sid("hits"), attack_texts()[0]).status_code == 403
    expect(rules.locator('tr[data-rule="PI-001"] td.hits')).not_to_have_text("0", timeout=30_000)
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_test_id("policy-result")).to_contain_text("valid:")
    dash.allow_error_from("/control/policy/validate")
    page.get_by_label("Policy YAML").fill("mode: sideways\n")
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_test_id("policy-result")).to_contain_text("mode")
    page.get_by_role("button", name="Reload policy files").click()
    expect(page.get_by_test_id("policy-result")).to_contain_text("reloaded")
    dash.shot(page, "policy")


def test_pages_work_at_1280_and_narrow_and_by_keyboard(
    page: Page, dash: Dashboard, stack: Stack
) -> None:
    assert stack.chat(sid("layout")).status_code == 200
    dash.login(page)
    expect(page.get_by_test_id("tile-rps")).to_be_visible()
    page.wait_for_timeout(4500)  # a few samples for the charts
    dash.shot(page, "overview")
    for width, height in ((1280, 720), (390, 800)):
        page.set_viewport_size({"width": width, "height": height})
        for route in ("#/overview", "#/sessions", "#/violations", "#/policy", "#/trail"):
            dash.open(page, route)
            page.get_by_role("heading", level=1).wait_for()
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 1, f"{route} scrolls sideways at {width}px by {overflow}px"
            if width < 500 and route == "#/overview":
                dash.shot(page, "overview-narrow")
    # Keyboard: Tab reaches the skip link, then every navigation link; Enter follows one.
    page.set_viewport_size({"width": 1280, "height": 720})
    dash.open(page, "#/overview")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Overview")).to_be_focused()
    for name in ("Sessions", "Violations", "Policy", "Trail"):
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name=name)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Trail")


def test_ui_is_served_with_a_strict_csp_and_needs_a_key_for_data(stack: Stack) -> None:
    page = httpx.get(stack.ui)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in page.text  # no inline script
    asset = httpx.get(f"{stack.control_url}/ui/static/vendor/uPlot.iife.min.js")
    assert asset.status_code == 200 and "content-security-policy" in asset.headers
    for path in ("/control/overview", "/control/violations", "/control/violations/stream"):
        assert httpx.get(stack.control_url + path).status_code == 401, path
    traversal = httpx.get(f"{stack.control_url}/ui/static/../../settings.py")
    assert traversal.status_code == 404
    with stack.control("read") as viewer:
        me = viewer.get("/control/whoami").json()
    assert me == {
        "id": KEYS["read"][0],
        "scopes": ["read"],
        "kill": False,
        "admin": False,
        "content": False,
        "instance": me["instance"],
    }
