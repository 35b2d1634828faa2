"""OpenTelemetry spans for the streams worker's judgement (off unless `tracing.enabled`).

One INTERNAL span per judged batch, `modeltrail.judge`, with a link to the proxy's
request span of every traced event in it (the span context the proxy put on the event),
each link carrying the session, the event type and the rule ids that fired. A batch
span with links, not a span per event: judging is batched, and a per-event span would
cost more than the judgement. Spans leave through the shared `SpanQueue` (bounded,
counted drops, never blocks the worker).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from schemas.telemetry import SpanQueue, TraceStats, TracingSettings, random_id
from streams.processor import BatchResult, Judged

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.util.types import Attributes

__all__ = ["JudgementTracing"]

#: Links per span beyond which the SDK drops them (its default limit).
MAX_LINKS = 128


@dataclass(frozen=True, slots=True)
class JudgementSpan:
    """One ended `modeltrail.judge` span, as the export thread turns it into the SDK's."""

    trace_id: int
    span_id: int
    start_ns: int
    end_ns: int
    attributes: Attributes
    judged: tuple[Judged, ...]

    def readable(self, resource: Resource, scope: InstrumentationScope) -> ReadableSpan:
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags

        sampled = TraceFlags(TraceFlags.SAMPLED)
        links = [
            Link(
                SpanContext(int(j.trace_id, 16), int(j.span_id, 16), True, sampled),
                {
                    "modeltrail.session.id": j.session_id,
                    "modeltrail.event.type": j.event_type,
                    "modeltrail.policy.rule_ids": list(j.rule_ids),
                    "modeltrail.policy.killed": j.killed,
                },
            )
            for j in self.judged
        ]
        return ReadableSpan(
            "modeltrail.judge",
            context=SpanContext(self.trace_id, self.span_id, False, sampled),
            resource=resource,
            attributes=self.attributes,
            links=links,
            kind=SpanKind.INTERNAL,
            start_time=self.start_ns,
            end_time=self.end_ns,
            instrumentation_scope=scope,
        )


class JudgementTracing:
    """Owns the span queue of one streams worker."""

    def __init__(self, settings: TracingSettings, instance_id: str) -> None:
        self.enabled = settings.enabled
        self.stats = TraceStats()
        self._queue: SpanQueue | None = None
        if self.enabled:
            self._queue = SpanQueue(
                settings, "modeltrail-streams", instance_id, "modeltrail.streams"
            )
            self.stats = self._queue.stats

    def record(self, start_ns: int, end_ns: int, result: BatchResult, policy_version: str) -> None:
        """One span for a batch judged between `start_ns` and `end_ns` (time.time_ns())."""
        queue = self._queue
        if queue is None or not result.judged:
            return
        from opentelemetry.sdk.trace.sampling import Decision
        from opentelemetry.trace import SpanKind

        attributes: Attributes = {
            "modeltrail.batch.events": result.events,
            "modeltrail.batch.violations": result.violations,
            "modeltrail.batch.commands": result.commands,
            "modeltrail.policy.version": policy_version,
        }
        for first in range(0, len(result.judged), MAX_LINKS):
            trace_id = random_id(128)
            decision = queue.sampler.should_sample(
                None, trace_id, "modeltrail.judge", SpanKind.INTERNAL, attributes
            ).decision
            if decision is Decision.RECORD_AND_SAMPLE:
                chunk = tuple(result.judged[first : first + MAX_LINKS])
                queue.put(
                    JudgementSpan(trace_id, random_id(64), start_ns, end_ns, attributes, chunk)
                )

    def shutdown(self) -> None:
        """Export the spans still queued, then stop (blocking: up to the export timeout)."""
        if self._queue is not None:
            self._queue.shutdown()
            self._queue = None
