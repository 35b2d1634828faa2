"""OpenTelemetry spans for the streams worker's judgement (off unless `tracing.enabled`).

One INTERNAL span per judged batch, `modeltrail.judge`, with a link to the proxy's
request span of every traced event in it (the span context the proxy put on the event),
each link carrying the session, the event type and the rule ids that fired. A batch
span with links, not a span per event: judging is batched, and a per-event span would
cost more than the judgement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas.telemetry import TraceStats, TracingSettings, build_provider
from streams.processor import BatchResult

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

__all__ = ["JudgementTracing"]

#: Links per span beyond which the SDK drops them (its default limit).
MAX_LINKS = 128


class JudgementTracing:
    """Owns the tracer provider of one streams worker."""

    def __init__(self, settings: TracingSettings, instance_id: str) -> None:
        self.enabled = settings.enabled
        self.stats = TraceStats()
        self._provider: TracerProvider | None = None
        self._tracer: Tracer | None = None
        if self.enabled:
            self._provider, self.stats = build_provider(settings, "modeltrail-streams", instance_id)
            self._tracer = self._provider.get_tracer("modeltrail.streams")

    def record(self, start_ns: int, end_ns: int, result: BatchResult, policy_version: str) -> None:
        """One span for a batch judged between `start_ns` and `end_ns` (time.time_ns())."""
        if self._tracer is None or not result.judged:
            return
        from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags

        for first in range(0, len(result.judged), MAX_LINKS):
            chunk = result.judged[first : first + MAX_LINKS]
            links = [
                Link(
                    SpanContext(
                        int(j.trace_id, 16),
                        int(j.span_id, 16),
                        is_remote=True,
                        trace_flags=TraceFlags(0x01),
                    ),
                    {
                        "modeltrail.session.id": j.session_id,
                        "modeltrail.event.type": j.event_type,
                        "modeltrail.policy.rule_ids": list(j.rule_ids),
                        "modeltrail.policy.killed": j.killed,
                    },
                )
                for j in chunk
            ]
            span = self._tracer.start_span(
                "modeltrail.judge",
                kind=SpanKind.INTERNAL,
                links=links,
                start_time=start_ns,
                attributes={
                    "modeltrail.batch.events": result.events,
                    "modeltrail.batch.violations": result.violations,
                    "modeltrail.batch.commands": result.commands,
                    "modeltrail.policy.version": policy_version,
                },
            )
            span.end(end_time=end_ns)

    def shutdown(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()
            self._provider = None
            self._tracer = None
