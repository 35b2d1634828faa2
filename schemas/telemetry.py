"""OpenTelemetry tracing shared by the proxy and the streams worker: settings, the bounded
export queue with its OTLP exporter, and W3C `traceparent` parsing.

Off by default. When on, the standard `OTEL_*` variables are honoured by the SDK
(`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, ...); the
settings below only add what they do not cover.

Export never blocks the caller (`SpanQueue`): an ended span is a small record appended to a
bounded queue; one export thread turns records into the SDK's `ReadableSpan` and hands
batches to the SDK's OTLP exporter. A span that finds the queue full is dropped and counted
(`TraceStats.dropped`), and so is every span of a batch the endpoint refused or never
answered (`TraceStats.failed`). The SDK's `Tracer` is not on the request path: its span
costs tens of microseconds (attribute validation, locks, processor fan-out) where a record
costs a few (`bench/tracing_cost.py`).
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.sampling import Sampler
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

__all__ = [
    "SpanQueue",
    "SpanRecord",
    "TraceContext",
    "TraceStats",
    "TracingSettings",
    "parse_traceparent",
    "random_id",
]

log = logging.getLogger(__name__)

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


class TracingSettings(BaseSettings):
    """Env `MODELTRAIL_TRACING__*` (or nested under a service's own prefix)."""

    model_config = SettingsConfigDict(env_prefix="MODELTRAIL_TRACING__", extra="forbid")

    enabled: bool = False
    protocol: Literal["http/protobuf", "grpc"] = "http/protobuf"
    endpoint: str | None = Field(
        default=None,
        description="OTLP traces endpoint; None: the SDK reads OTEL_EXPORTER_OTLP_* itself "
        "(default http://localhost:4318/v1/traces or localhost:4317 for gRPC)",
    )
    service_name: str | None = Field(default=None, description="None: the service's own name")
    max_queue_size: int = Field(
        default=2048, ge=1, description="ended spans waiting; beyond: dropped"
    )
    schedule_delay_ms: int = Field(default=500, ge=1)
    max_export_batch_size: int = Field(default=512, ge=1)
    export_timeout_ms: int = Field(default=5000, ge=1)

    @model_validator(mode="after")
    def _sdk_disabled(self) -> TracingSettings:
        # The standard switch (OTEL_SDK_DISABLED=true) wins over `enabled`.
        if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            self.enabled = False
        return self


@dataclass(frozen=True, slots=True)
class TraceContext:
    """A W3C trace context: 32 and 16 lowercase hex digits and the sampled flag."""

    trace_id: str
    span_id: str
    sampled: bool = True

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"


def parse_traceparent(value: str | None) -> TraceContext | None:
    """The context in a `traceparent` header, or None when absent or malformed (spec: ignore)."""
    if not value or len(value) != 55:
        return None
    m = _TRACEPARENT.match(value.strip().lower())
    if m is None or m.group(1) == "0" * 32 or m.group(2) == "0" * 16:
        return None
    return TraceContext(m.group(1), m.group(2), bool(int(m.group(3), 16) & 1))


def random_id(bits: int) -> int:
    """A random non-zero trace (128 bits) or span (64) id, drawn as the SDK's generator does."""
    while True:
        value = random.getrandbits(bits)
        if value:
            return value


class TraceStats:
    """Counters of the export path (thread-safe: the SDK exports from its own thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.queued = 0
        self.exported = 0
        self.failed = 0
        self.dropped = 0

    def add(self, field: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, field, getattr(self, field) + n)

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {
                "queued": self.queued,
                "exported": self.exported,
                "failed": self.failed,
                "dropped": self.dropped,
            }


class SpanRecord(Protocol):
    """An ended span as its producer keeps it until the export thread needs the SDK's form."""

    def readable(self, resource: Resource, scope: InstrumentationScope) -> ReadableSpan: ...


def otlp_exporter(settings: TracingSettings) -> SpanExporter:
    """The SDK's OTLP span exporter for `settings.protocol` (endpoint: setting, else OTEL_*)."""
    timeout_s = settings.export_timeout_ms / 1000
    if settings.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=settings.endpoint, timeout=timeout_s)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter(endpoint=settings.endpoint, timeout=timeout_s)


class SpanQueue:
    """Ended spans waiting for export: a bounded queue drained by one export thread.

    `put` never blocks and never does I/O: while fewer than `max_queue_size` spans wait or
    are being exported the record is appended, else it is dropped and counted. The thread
    wakes every `schedule_delay_ms`, or as soon as a full batch waits, and exports batches
    of at most `max_export_batch_size`; a batch the exporter refuses, or that raises, is
    counted as failed and not retried here (the exporter retries within its timeout).
    `shutdown` exports what is left, then shuts the exporter down; later spans are dropped.

    Only the SDK's public API is used: `ReadableSpan`'s constructor (its docstring steers
    users to the `Tracer`, but exporters and the SDK's tests build spans this way), the
    exporter's `export`, `TracerProvider.sampler`. The OTLP integration test decodes what a
    receiver gets, so a change upstream fails it.
    """

    def __init__(
        self, settings: TracingSettings, default_service: str, instance_id: str, scope: str
    ) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        self.stats = TraceStats()
        self.resource = Resource.create(
            {
                "service.name": settings.service_name or default_service,
                "service.instance.id": instance_id,
                "service.namespace": "modeltrail",
            }
        )
        self.scope = InstrumentationScope(scope)
        # The sampler the SDK configures from OTEL_TRACES_SAMPLER(_ARG) (default: parent-based
        # always-on); the provider is built only to read it and exports nothing.
        self.sampler: Sampler = TracerProvider(
            resource=self.resource, shutdown_on_exit=False
        ).sampler
        self._exporter = otlp_exporter(settings)
        self._limit = settings.max_queue_size
        self._batch = min(settings.max_export_batch_size, settings.max_queue_size)
        self._delay_s = settings.schedule_delay_ms / 1000
        self._spans: deque[SpanRecord] = deque()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="modeltrail-spans", daemon=True)
        self._thread.start()

    def put(self, span: SpanRecord) -> None:
        """Queue an ended span for export, or drop and count it when the queue is full."""
        stats = self.stats
        if stats.queued >= self._limit or self._closed:
            stats.add("dropped")
            return
        stats.add("queued")
        self._spans.append(span)
        if len(self._spans) >= self._batch:
            self._wake.set()

    def shutdown(self) -> None:
        """Export what waits and stop the thread (blocking: up to the export timeout)."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join()
        self._drain()  # a span put while the thread was finishing
        self._exporter.shutdown()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._delay_s)
            self._wake.clear()
            self._drain()
        self._drain()

    def _drain(self) -> None:
        from opentelemetry.sdk.trace.export import SpanExportResult

        spans, resource, scope = self._spans, self.resource, self.scope
        while spans:
            batch = [spans.popleft() for _ in range(min(self._batch, len(spans)))]
            try:
                ok = (
                    self._exporter.export([s.readable(resource, scope) for s in batch])
                    is SpanExportResult.SUCCESS
                )
            except Exception:  # the top of the export thread: it must outlive any one batch
                log.exception("span_export_failed")
                ok = False
            self.stats.add("queued", -len(batch))
            self.stats.add("exported" if ok else "failed", len(batch))
