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
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from dashboard_kit import KEYS, Dashboard, Stack, Watch, chromium
from playwright.sync_api import Page

from modeltrail.embedded.chromium import CHROMIUM_ARGS
from modeltrail.embedded.process import free_port


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
    data = tmp_path_factory.mktemp("dashboard")
    ports = {"port": free_port(), "control_port": free_port(), "kafka_port": free_port()}
    argv = [sys.executable, "-m", "modeltrail.cmd_stack", "up", "--data-dir", str(data)]
    for name, port in ports.items():
        argv += [f"--{name.replace('_', '-')}", str(port)]
    keys = [{"id": i, "key": k, "scopes": scopes} for i, k, scopes in KEYS.values()]
    env = {
        **os.environ,
        "COLUMNS": "160",
        "MODELTRAIL_PROXY__CONTROL_KEYS": json.dumps(keys),
        "MODELTRAIL_PROXY__CONTENT_SCOPE": "admin",
    }
    output = data / "up.out"
    with output.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=data, env=env)
    running = Stack(proc=proc, data_dir=data, output=output, **ports)
    try:
        deadline = time.monotonic() + 150
        while "Ctrl-C stops" not in running.text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"modeltrail up did not come up:\n{running.text()}")
            time.sleep(0.2)
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(90)
            except subprocess.TimeoutExpired:
                proc.kill()


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
