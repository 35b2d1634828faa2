"""OpenTelemetry tracing shared by the proxy and the streams worker: settings, the tracer
provider with a bounded, counting export path, and W3C `traceparent` parsing.

Off by default. When on, the standard `OTEL_*` variables are honoured by the SDK
(`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_RESOURCE_ATTRIBUTES`, ...); the settings below only
add what they do not cover. Export never blocks the caller: ended spans go to a bounded
queue drained by the SDK's batch thread; a span that finds the queue full is dropped and
counted (`TraceStats.dropped`), and so is every span of a batch the endpoint refused or
never answered (`TraceStats.failed`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["TraceContext", "TraceStats", "TracingSettings", "build_provider", "parse_traceparent"]

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


def _counting_exporter(inner: SpanExporter, stats: TraceStats) -> SpanExporter:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class CountingExporter(SpanExporter):
        """Counts what reached the endpoint and what it refused; delegates everything."""

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            try:
                result = inner.export(spans)
            except Exception:  # an exporter that raises must not kill the SDK's thread
                result = SpanExportResult.FAILURE
            stats.add("queued", -len(spans))
            stats.add("exported" if result is SpanExportResult.SUCCESS else "failed", len(spans))
            return result

        def shutdown(self) -> None:
            inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return inner.force_flush(timeout_millis)

    return CountingExporter()


def build_provider(
    settings: TracingSettings, default_service: str, instance_id: str
) -> tuple[TracerProvider, TraceStats]:
    """A tracer provider exporting OTLP through a bounded batch processor; not global."""
    from opentelemetry.context import Context
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter: SpanExporter
    timeout_s = settings.export_timeout_ms / 1000
    if settings.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=settings.endpoint, timeout=timeout_s)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        exporter = HttpExporter(endpoint=settings.endpoint, timeout=timeout_s)
    stats = TraceStats()
    batch = BatchSpanProcessor(
        _counting_exporter(exporter, stats),
        max_queue_size=settings.max_queue_size,
        schedule_delay_millis=settings.schedule_delay_ms,
        max_export_batch_size=min(settings.max_export_batch_size, settings.max_queue_size),
        export_timeout_millis=settings.export_timeout_ms,
    )
    limit = settings.max_queue_size

    class BoundedProcessor(SpanProcessor):
        """Forwards ended spans while fewer than `limit` wait for export; counts the rest."""

        def on_start(self, span: Span, parent_context: Context | None = None) -> None:
            return None

        def on_end(self, span: ReadableSpan) -> None:
            if stats.queued >= limit:
                stats.add("dropped")
                return
            stats.add("queued")
            batch.on_end(span)

        def shutdown(self) -> None:
            batch.shutdown()  # type: ignore[no-untyped-call]

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return batch.force_flush(timeout_millis)

    resource = Resource.create(
        {
            "service.name": settings.service_name or default_service,
            "service.instance.id": instance_id,
            "service.namespace": "modeltrail",
        }
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BoundedProcessor())
    return provider, stats
