"""Prometheus metric objects of one proxy process, on their own registry.

The control API serves `registry` at `/metrics`. Label children are cached so
the request path pays one dict lookup, not a label resolution, per metric.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["OVERHEAD_BUCKETS", "ProxyMetrics"]

#: Proxy-added time is sub-millisecond when healthy: fine buckets there.
OVERHEAD_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025,
    0.05, 0.1,
)  # fmt: skip
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ProxyMetrics:
    """Requests, latency, tokens, kills, emitter queue and spool gauges."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "modeltrail_proxy_requests",
            "Requests answered, by backend, provider, outcome and status",
            ["backend", "provider", "outcome", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "modeltrail_proxy_request_latency_seconds",
            "Total request latency through the proxy",
            ["backend"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.ttfb = Histogram(
            "modeltrail_proxy_ttfb_seconds",
            "Time to the backend's first response byte",
            ["backend"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "modeltrail_proxy_overhead_seconds",
            "Time the proxy spends on a request before it goes upstream (added latency)",
            buckets=OVERHEAD_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "modeltrail_proxy_tokens",
            "Tokens reported by backends",
            ["backend", "direction"],
            registry=r,
        )
        self.kills = Counter(
            "modeltrail_proxy_kills",
            "Requests refused or streams cut by a kill",
            ["where"],
            registry=r,
        )
        self.events = Counter(
            "modeltrail_proxy_events",
            "Events by fate: sent, spooled, replayed, dropped",
            ["fate"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "modeltrail_proxy_emit_queue_depth", "Events waiting to be sent", registry=r
        )
        self.spool_bytes = Gauge(
            "modeltrail_proxy_spool_bytes", "Bytes in the local spool not yet acked", registry=r
        )
        self.spool_write_failures = Counter(
            "modeltrail_proxy_spool_write_failures",
            "Spool writes that failed (their events wait in memory for a retry)",
            registry=r,
        )
        self.broker_up = Gauge(
            "modeltrail_proxy_broker_up", "1 when events go straight to Kafka", registry=r
        )
        # Written by proxy.enforcement (kill state and session bookkeeping).
        self.kill_commands = Counter(
            "modeltrail_proxy_kill_commands",
            "Session commands applied, by command and source",
            ["command", "source"],
            registry=r,
        )
        self.commands_rejected = Counter(
            "modeltrail_proxy_commands_rejected",
            "Session commands ignored: unsigned or badly signed, by reason and source",
            ["reason", "source"],
            registry=r,
        )
        self.killed_sessions = Gauge(
            "modeltrail_proxy_killed_sessions", "Sessions currently blocked", registry=r
        )
        self.active_sessions = Gauge(
            "modeltrail_proxy_active_sessions", "Sessions in the session store", registry=r
        )
        self.session_updates_dropped = Counter(
            "modeltrail_proxy_session_updates_dropped",
            "Session bookkeeping updates dropped on a full queue",
            registry=r,
        )
        self._children: dict[tuple[str, ...], Counter] = {}
        self._latency_children: dict[str, tuple[Histogram, Histogram]] = {}
        self._token_children: dict[str, tuple[Counter, Counter]] = {}

    def bind_emitter(
        self, depth: Callable[[], float], spool: Callable[[], float], up: Callable[[], float]
    ) -> None:
        """Make the gauges read live values from the emitter."""
        self.queue_depth.set_function(depth)
        self.spool_bytes.set_function(spool)
        self.broker_up.set_function(up)

    def observe(
        self,
        backend: str,
        provider: str,
        outcome: str,
        status: int,
        latency_s: float,
        ttfb_s: float | None,
        input_tokens: int | None,
        output_tokens: int | None,
    ) -> None:
        """Record one answered request."""
        key = (backend, provider, outcome, str(status))
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.requests.labels(*key)
        child.inc()
        hist = self._latency_children.get(backend)
        if hist is None:
            hist = self._latency_children[backend] = (
                self.latency.labels(backend),
                self.ttfb.labels(backend),
            )
        hist[0].observe(latency_s)
        if ttfb_s is not None:
            hist[1].observe(ttfb_s)
        if input_tokens or output_tokens:
            tok = self._token_children.get(backend)
            if tok is None:
                tok = self._token_children[backend] = (
                    self.tokens.labels(backend, "input"),
                    self.tokens.labels(backend, "output"),
                )
            if input_tokens:
                tok[0].inc(input_tokens)
            if output_tokens:
                tok[1].inc(output_tokens)
