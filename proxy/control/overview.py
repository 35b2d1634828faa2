"""The dashboard's overview figures, sampled on demand from this replica's metrics.

Nothing runs while no dashboard is open: each `/control/overview` call takes a
sample (at most one per `min_interval_s`) of the request counter and the
added-latency histogram, and the series is built from the differences between
samples (requests/s, p50/p99 added latency per interval). Component health
(consumer groups of the sink and the streams worker) is refreshed in the
background at most every `health_ttl_s`, so the call itself never waits on Kafka.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Histogram

from schemas.kafka import group_stable
from schemas.settings import KafkaSettings

__all__ = ["GroupHealth", "MetricSampler", "SpendSource", "quantile"]

#: The spend hook: the identity issue (budgets, price table) plugs a callable
#: here that answers today's spend in USD; until then the overview says "n/a".
SpendSource = Callable[[], Awaitable[float | None]]


def _counter_total(counter: Counter) -> float:
    return sum(
        s.value for metric in counter.collect() for s in metric.samples if s.name.endswith("_total")
    )


def _buckets(hist: Histogram) -> list[tuple[float, float]]:
    """Cumulative (upper bound, count) pairs summed over every label set."""
    sums: dict[float, float] = {}
    for metric in hist.collect():
        for s in metric.samples:
            if s.name.endswith("_bucket"):
                le = float(s.labels["le"])
                sums[le] = sums.get(le, 0.0) + s.value
    return sorted(sums.items())


def quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The q-quantile of cumulative buckets, interpolated inside its bucket (as PromQL)."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            span = count - lower_count
            share = (rank - lower_count) / span if span > 0 else 1.0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound


@dataclass(frozen=True, slots=True)
class _Sample:
    t: float
    requests: float
    overhead: list[tuple[float, float]]


class MetricSampler:
    """Requests/s and added-latency quantiles over the last few minutes."""

    def __init__(
        self,
        requests: Counter,
        overhead: Histogram,
        *,
        points: int = 150,
        min_interval_s: float = 1.0,
    ) -> None:
        self._requests = requests
        self._overhead = overhead
        self._samples: deque[_Sample] = deque(maxlen=points + 1)
        self._min_interval_s = min_interval_s

    def sample(self, now: float | None = None) -> None:
        """Take a sample unless the last one is younger than `min_interval_s`."""
        t = time.time() if now is None else now
        if self._samples and t - self._samples[-1].t < self._min_interval_s:
            return
        self._samples.append(_Sample(t, _counter_total(self._requests), _buckets(self._overhead)))

    def series(self) -> list[dict[str, Any]]:
        """One point per interval between samples: time, rps, p50/p99 added ms."""
        out: list[dict[str, Any]] = []
        pairs = zip(list(self._samples), list(self._samples)[1:], strict=False)
        for a, b in pairs:
            dt = b.t - a.t
            delta = [
                (bound, cb - ca)
                for (bound, cb), (_, ca) in zip(b.overhead, a.overhead, strict=False)
            ]
            p50, p99 = quantile(0.5, delta), quantile(0.99, delta)
            out.append(
                {
                    "t": round(b.t, 3),
                    "rps": round((b.requests - a.requests) / dt, 3) if dt > 0 else 0.0,
                    "p50_ms": None if p50 is None else round(p50 * 1000, 4),
                    "p99_ms": None if p99 is None else round(p99 * 1000, 4),
                }
            )
        return out

    def totals(self) -> dict[str, Any]:
        """Since start: requests and the overall added-latency quantiles (ms)."""
        buckets = _buckets(self._overhead)
        p50, p99 = quantile(0.5, buckets), quantile(0.99, buckets)
        return {
            "requests": _counter_total(self._requests),
            "p50_ms": None if p50 is None else round(p50 * 1000, 4),
            "p99_ms": None if p99 is None else round(p99 * 1000, 4),
        }


class GroupHealth:
    """Whether the sink's and the streams worker's consumer groups are Stable (cached)."""

    def __init__(
        self, kafka: KafkaSettings, groups: Mapping[str, str], *, ttl_s: float = 30.0
    ) -> None:
        self._kafka = kafka
        self._groups = dict(groups)
        self._ttl_s = ttl_s
        self._state: dict[str, dict[str, Any]] = {
            name: {"group": group, "ok": None, "checked": None} for name, group in groups.items()
        }
        self._checked = 0.0
        self._task: asyncio.Task[None] | None = None

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """The last known state; starts a refresh when it is stale."""
        healthy = all(v["ok"] for v in self._state.values())
        # A failing (or not yet known) group is probed again soon; a healthy one rarely.
        ttl = self._ttl_s if healthy else min(self._ttl_s, 5.0)
        stale = time.monotonic() - self._checked > ttl
        if stale and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._refresh(), name="dashboard-health")
        return {k: dict(v) for k, v in self._state.items()}

    async def _refresh(self) -> None:
        self._checked = time.monotonic()
        for name, group in self._groups.items():
            ok = await group_stable(self._kafka, group, timeout_s=3.0)
            self._state[name] = {"group": group, "ok": ok, "checked": time.time()}

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
