"""The proxy's per-request tracing cost in-process, without HTTP noise.

Runs the hooks one traced request calls (`RequestTracing.start_request`, the upstream
`traceparent`, `RequestSpan.end`) N times against a local OTLP/HTTP receiver that
accepts every export, and reports:

- `request_path_us`: CPU time of the hook sequence per request on the calling thread
  (what a request pays; export runs on another thread);
- `request_path_wall_us`: its wall time, which also holds the GIL waits for the export
  thread (noisy on a shared machine);
- `cpu_per_span_us`: the process's CPU time per span, export thread included (measured
  from the first hook to the last span exported), which competes with requests for the
  GIL and the cores.

`--json` prints one JSON line last: {"request_path_us", "request_path_wall_us",
"cpu_per_span_us", "spans", "exported", "dropped"}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from proxy_overhead import otlp_receiver

from proxy.tracing import RequestTracing
from schemas.telemetry import TraceContext, TracingSettings

BODY = {"model": "gpt-4o-mini", "max_tokens": 50, "temperature": 0.2, "messages": []}
PARENT = TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", True)


def one_request(tracing: RequestTracing, parent: TraceContext | None) -> str:
    """The tracing hooks of one answered request, in the order the proxy calls them."""
    span = tracing.start_request(
        parent,
        path="/v1/chat/completions",
        provider="openai",
        backend_url="http://127.0.0.1:9000/v1",
        body=BODY,
    )
    assert span is not None
    header = span.context.traceparent
    span.end(
        status_code=200,
        outcome="ok",
        response_model="gpt-4o-mini-2024-07-18",
        input_tokens=812,
        output_tokens=64,
        finish_reasons=["stop"],
        ttfb_s=0.0012,
        stream=False,
        session_id="bench-session",
        decision="allow",
    )
    return header


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with otlp_receiver() as endpoint:
        settings = TracingSettings(enabled=True, endpoint=endpoint, max_queue_size=1_000_000)
        tracing = RequestTracing(settings, "bench")
        for i in range(2000):  # warm-up: imports, first export
            one_request(tracing, PARENT if i % 2 else None)
        rounds: list[float] = []
        walls: list[float] = []
        cpu0 = time.process_time()
        spans = 0
        for _ in range(args.rounds):
            t0, c0 = time.perf_counter(), time.thread_time()
            for i in range(args.requests):
                one_request(tracing, PARENT if i % 2 else None)
            rounds.append((time.thread_time() - c0) / args.requests * 1e6)
            walls.append((time.perf_counter() - t0) / args.requests * 1e6)
            spans += args.requests
        tracing.shutdown()  # flushes what is left
        cpu = time.process_time() - cpu0
    result = {
        "request_path_us": round(statistics.median(rounds), 2),
        "request_path_wall_us": round(statistics.median(walls), 2),
        "cpu_per_span_us": round(cpu / spans * 1e6, 2),
        "spans": spans,
        "exported": tracing.stats.exported,
        "dropped": tracing.stats.dropped,
    }
    print(json.dumps(result) if args.json else result)


if __name__ == "__main__":
    main()
