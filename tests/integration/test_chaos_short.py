"""The short form of `bench/chaos.py` in CI: broker SIGKILL and sink SIGKILL x2 under load.

Against a real `modeltrail up` (s3 broker storage, proxy durability wal): no client
error outside the outage windows, no acknowledged request lost, none read twice,
nothing overwritten.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_chaos_short_form_loses_nothing() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "chaos.py"), "--short", "--json"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-3000:]
    detail = json.loads(lines[-2])["results"]
    assert set(detail) == {"broker", "sink"}
    assert all(r["acked"] > 0 for r in detail.values()), detail
    assert json.loads(lines[-1]) == {
        "scenarios": 2,
        "lost": 0,
        "duplicated": 0,
        "overwritten": 0,
        "client_errors_outside_outage": 0,
    }, (detail, done.stderr[-3000:])
    assert done.returncode == 0, done.stderr[-3000:]
