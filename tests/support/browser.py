"""Helpers of the dashboard's browser tests (tests/browser): keys, the stack, page watching."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, Request

from modeltrail.embedded.chromium import ChromiumMissing, chromium_path
from tests.support.up_process import Up

#: name -> (key id, key, scopes)
KEYS = {
    "read": ("viewer", "ui-read-key-0123456789", ["read"]),
    "kill": ("operator", "ui-kill-key-0123456789", ["read", "kill"]),
    "admin": ("root", "ui-admin-key-0123456789", ["admin"]),
}
#: Screenshots of every page land here (the README shows two, copied under docs/).
SHOTS = Path(os.environ.get("MODELTRAIL_SCREENSHOTS", "build/screenshots"))


def chromium() -> str:
    """The Debian Chromium binary; a missing browser is a failure, never a skip."""
    try:
        return chromium_path()
    except ChromiumMissing as exc:
        pytest.fail(str(exc))


class Stack(Up):
    """A running `modeltrail up` and clients for its proxy and control API."""

    @property
    def ui(self) -> str:
        return f"http://127.0.0.1:{self.control_port}/ui/"

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    def proxy(self) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)

    def control(self, scope: str = "admin") -> httpx.Client:
        return httpx.Client(
            base_url=self.control_url,
            headers={"authorization": f"Bearer {KEYS[scope][1]}"},
            timeout=10,
        )

    def chat(self, session: str, text: str = "Name a sorting algorithm.") -> httpx.Response:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
        with self.proxy() as client:
            return client.post("/v1/chat/completions", json=body, headers={"x-session-id": session})


@dataclass
class Watch:
    """What went wrong in the page: console errors, page errors, failed or foreign requests."""

    origin: str
    problems: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def console(self, msg: ConsoleMessage) -> None:
        if msg.type != "error":
            return
        where = msg.location.get("url", "")
        if any(a in where for a in self.allowed):
            return  # an error status the test provoked on purpose
        self.problems.append(f"console: {msg.text} ({where})")

    def request(self, req: Request) -> None:
        if not req.url.startswith((self.origin, "data:", "blob:")):
            self.problems.append(f"request to another origin: {req.url}")

    def failed(self, req: Request) -> None:
        failure = req.failure or ""
        # A reload, sign-out or closing the page aborts polls and the live feed: not a fault.
        if "ERR_ABORTED" in failure:
            return
        self.problems.append(f"request failed: {req.url} {failure}")


class Dashboard:
    """Test helpers over one stack: sign in, navigate, screenshots, expected errors."""

    def __init__(self, stack: Stack, watch: Watch) -> None:
        self.stack = stack
        self.watch = watch

    def login(self, page: Page, scope: str = "admin") -> None:
        """Open the dashboard and sign in with the key of `scope`."""
        page.goto(self.stack.ui)
        page.get_by_label("Control key").fill(KEYS[scope][1])
        page.get_by_role("button", name="Sign in").click()
        page.get_by_test_id("whoami").wait_for()

    def open(self, page: Page, route: str) -> None:
        """Go to a page of the signed-in dashboard by its hash route (no reload)."""
        page.evaluate("(r) => { location.hash = r; }", route)

    def allow_error_from(self, url_part: str) -> None:
        """An error status from this URL is what the test provokes: not a page problem."""
        self.watch.allowed.append(url_part)

    def shot(self, page: Page, name: str) -> Path:
        """Save a full-page screenshot of the current page as `<name>.png`."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
