"""Debian's Chromium for the dashboard's browser tests and bench (driven by Playwright).

`playwright install` cannot download browsers here, so Playwright launches the
system binary (`apt-get install -y chromium chromium-driver`; `make chromium`).
"""

from __future__ import annotations

import shutil

__all__ = ["CHROMIUM_ARGS", "ChromiumMissing", "chromium_path"]

#: Headless in a container: no sandbox (no user namespaces), no GPU, nothing phoning home.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


class ChromiumMissing(RuntimeError):
    """No Chromium binary on PATH."""


def chromium_path() -> str:
    """The Chromium binary; raises ChromiumMissing with the install command when absent."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise ChromiumMissing(
            "chromium is not installed: `apt-get install -y chromium chromium-driver` "
            "(`make chromium` does it when running as root)"
        )
    return found
