"""A real stack and Debian's Chromium for the dashboard tests.

One `modeltrail up` per test session (Tansu broker, streams worker, sink writing
Parquet, the proxy with its control API, the fake backend), with three control
keys: `read`, `kill` and `admin`. Chromium is the Debian binary driven by
Playwright (`playwright install` cannot download browsers here); a missing
browser fails the tests, it never skips them. Each test's page is watched:
console errors, page errors, failed requests and requests to other origins fail it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page

from modeltrail.embedded.chromium import CHROMIUM_ARGS
from tests.support.browser import KEYS, Dashboard, Stack, Watch, chromium
from tests.support.up_process import run_up


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": chromium(),
        "args": [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_context_args,
        "viewport": {"width": 1280, "height": 720},
        "accept_downloads": True,
    }


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    keys = [{"id": i, "key": k, "scopes": scopes} for i, k, scopes in KEYS.values()]
    env = {
        "MODELTRAIL_PROXY__CONTROL_KEYS": json.dumps(keys),
        "MODELTRAIL_PROXY__CONTENT_SCOPE": "admin",
        # These tests are about the dashboard: clients name their own sessions, no key
        # (client keys, their namespaced sessions and kills are tested in integration/).
        "MODELTRAIL_PROXY__CLIENT_AUTH": "none",
    }
    with run_up(tmp_path_factory.mktemp("dashboard"), Stack, env=env, timeout_s=150) as running:
        yield running


@pytest.fixture
def watch(page: Page, stack: Stack) -> Iterator[Watch]:
    """Fails the test on any console error, page error or request leaving the origin."""
    w = Watch(origin=stack.control_url)
    page.on("console", w.console)
    page.on("pageerror", lambda exc: w.problems.append(f"page error: {exc}"))
    page.on("request", w.request)
    page.on("requestfailed", w.failed)
    yield w
    assert not w.problems, "\n".join(w.problems)


@pytest.fixture
def dash(stack: Stack, watch: Watch) -> Dashboard:
    """Helpers for a test whose page is watched for errors."""
    return Dashboard(stack, watch)
