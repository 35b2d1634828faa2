"""The proxy does not pull in the worker: faust, pyarrow and the faust app stay unloaded."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("faust", "pyarrow", "streams.app")


def test_importing_the_proxy_app_loads_no_worker_or_arrow_code() -> None:
    probe = (
        "import json, sys, proxy.app; "
        f"print(json.dumps({{m: m in sys.modules for m in {list(HEAVY)!r}}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == dict.fromkeys(HEAVY, False), loaded
