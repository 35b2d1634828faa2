"""Scale bench: memory per idle session, live SSE streams one proxy holds, state after churn.

    .venv/bin/python bench/scale.py --json [--sessions 50000] [--churn 200000] [--streams 9900]

Prints one JSON line last:

* `kb_per_idle_session`: live memory of the proxy's session store per session seen
  once (tracemalloc; target <= 2);
* `max_live_streams`: SSE streams one proxy process held open at the same time,
  every one of them relayed with the right bytes (target >= 10,000), and
  `kb_per_live_stream`: the proxy's RSS growth per open stream. A real proxy
  process (`python -m proxy`) with a Tansu broker and the fake backend, each in its
  own process; the bench raises its file-descriptor limit to the hard limit and the
  children inherit it. Each stream holds two descriptors in the proxy (client and
  upstream), so the hard limit caps what can be shown: `ulimit -Hn` of 20,000 (this
  machine's container) allows about 9,890 (measured: 9,894 open at once, 43 KB each;
  the last 6 of 9,900 were refused for want of descriptors); raise it (`ulimit -n 65536`, docker
  `--ulimit nofile=65536`) to go further. `fd_limit` is printed with the result;
* `state_after_churn_mb` vs `state_baseline_mb` (and the same in RSS): the proxy's
  and the worker's per-session state after `--churn` distinct sessions were each
  seen and killed once, then left idle past the TTL (`bench/scale_state.py`);
  `table_rows_after` is the faust session table's size then (target: back within
  20% of the baseline, table empty).

Costs nothing in CI: `make bench` only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from scale_state import measure_churn, measure_idle  # noqa: E402
from scale_streams import measure_streams  # noqa: E402


def raise_fd_limit() -> int:
    """Soft file-descriptor limit up to the hard one (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def run(args: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {}
    out["kb_per_idle_session"] = round(await measure_idle(args.sessions), 3)
    out["idle_sessions"] = args.sessions
    churn = await measure_churn(args.churn)
    out.update(
        churn_sessions=args.churn,
        state_baseline_mb=round(churn.baseline_mb, 2),
        state_peak_mb=round(churn.peak_mb, 1),
        state_after_churn_mb=round(churn.after_mb, 2),
        rss_baseline_mb=round(churn.rss_baseline_mb, 1),
        rss_after_churn_mb=round(churn.rss_after_mb, 1),
        table_rows_after=churn.table_rows_after,
        kills_held_after=churn.kills_held_after,
    )
    if not args.skip_streams:
        fd_limit = raise_fd_limit()
        with tempfile.TemporaryDirectory(prefix="modeltrail-scale-") as tmp:
            streams = await measure_streams(args.streams, Path(tmp), args.stream_seconds)
        out.update(fd_limit=fd_limit, **streams)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line last")
    parser.add_argument("--sessions", type=int, default=50_000)
    parser.add_argument("--churn", type=int, default=200_000)
    parser.add_argument("--streams", type=int, default=9_800, help="fits a 20,000 fd limit")
    parser.add_argument("--stream-seconds", type=float, default=40.0, help="life of a stream")
    parser.add_argument("--skip-streams", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    result = asyncio.run(run(args))
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
