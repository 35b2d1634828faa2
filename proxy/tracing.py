"""OpenTelemetry GenAI spans for proxied requests (off unless `tracing.enabled`).

One CLIENT span per request, named `{gen_ai.operation.name} {gen_ai.request.model}`
(OpenTelemetry GenAI semantic conventions), child of the client's W3C `traceparent`
when it sent one. The upstream request carries this span's `traceparent`, and every
Kafka event of the request carries its trace and span ids, so a violation in the trail
links to its trace. Attributes never include prompt or answer text.

With tracing off nothing here runs on the request path; a client's `traceparent` is
still forwarded unchanged and its trace id recorded on the events.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from schemas.telemetry import TraceContext, TraceStats, TracingSettings, build_provider

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

__all__ = ["OPERATIONS", "RequestSpan", "RequestTracing"]

#: Request path suffix -> gen_ai.operation.name.
OPERATIONS = {
    "chat/completions": "chat",
    "messages": "chat",
    "responses": "chat",
    "api/chat": "chat",
    "completions": "text_completion",
    "api/generate": "text_completion",
    "embeddings": "embeddings",
    "api/embed": "embeddings",
    "api/embeddings": "embeddings",
}


def operation_of(path: str) -> str:
    """The GenAI operation name of a canonical request path (`chat` when unknown)."""
    trimmed = path.split("?", 1)[0].rstrip("/")
    for suffix, name in OPERATIONS.items():
        if trimmed.endswith("/" + suffix):
            return name
    return "chat"


class RequestSpan:
    """The span of one proxied request; `end` exactly once."""

    __slots__ = ("_span", "_t0", "context")

    def __init__(self, span: Span) -> None:
        self._span = span
        self._t0 = time.perf_counter()
        ctx = span.get_span_context()
        self.context = TraceContext(f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}", True)

    def end(
        self,
        *,
        status_code: int,
        outcome: str,
        response_model: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        finish_reasons: Sequence[str] = (),
        ttfb_s: float | None = None,
        stream: bool = False,
        session_id: str | None = None,
        decision: str | None = None,
        rule_ids: Sequence[str] = (),
        error_type: str | None = None,
    ) -> None:
        from opentelemetry.trace import Status, StatusCode

        span = self._span
        attrs: dict[str, str | int | float | bool | Sequence[str]] = {
            "http.response.status_code": status_code,
            "modeltrail.outcome": outcome,
        }
        if response_model:
            attrs["gen_ai.response.model"] = response_model
        if input_tokens is not None:
            attrs["gen_ai.usage.input_tokens"] = input_tokens
        if output_tokens is not None:
            attrs["gen_ai.usage.output_tokens"] = output_tokens
        if finish_reasons:
            attrs["gen_ai.response.finish_reasons"] = list(finish_reasons)
        if ttfb_s is not None and stream:
            attrs["gen_ai.response.time_to_first_chunk"] = ttfb_s
        if session_id:
            attrs["gen_ai.conversation.id"] = session_id
            attrs["modeltrail.session.id"] = session_id
        if decision:
            attrs["modeltrail.policy.decision"] = decision
        if rule_ids:
            attrs["modeltrail.policy.rule_ids"] = list(rule_ids)
        if error_type or status_code >= 500 or outcome not in ("ok", "blocked", "killed"):
            attrs["error.type"] = error_type or outcome
            span.set_status(Status(StatusCode.ERROR, outcome))
        span.set_attributes(attrs)
        span.end()


class RequestTracing:
    """Owns the tracer provider of one proxy process."""

    def __init__(self, settings: TracingSettings, instance_id: str) -> None:
        self.enabled = settings.enabled
        self._provider: TracerProvider | None = None
        self._tracer: Tracer | None = None
        self.stats = TraceStats()
        if self.enabled:
            from opentelemetry.trace import SpanKind

            self._provider, self.stats = build_provider(settings, "modeltrail-proxy", instance_id)
            self._tracer = self._provider.get_tracer("modeltrail.proxy")
            self._kind = SpanKind.CLIENT

    def start(
        self,
        parent: TraceContext | None,
        *,
        path: str,
        provider: str,
        model: str | None,
        server_address: str | None,
        server_port: int | None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        key_id: str | None = None,
        team: str | None = None,
    ) -> RequestSpan | None:
        """Open the request's span (None when tracing is off)."""
        if self._tracer is None:
            return None
        from opentelemetry.trace import (
            NonRecordingSpan,
            SpanContext,
            TraceFlags,
            set_span_in_context,
        )

        context = None
        if parent is not None:
            remote = SpanContext(
                int(parent.trace_id, 16),
                int(parent.span_id, 16),
                is_remote=True,
                trace_flags=TraceFlags(0x01 if parent.sampled else 0x00),
            )
            context = set_span_in_context(NonRecordingSpan(remote))
        operation = operation_of(path)
        attrs: dict[str, str | int | float] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": provider,
        }
        if model:
            attrs["gen_ai.request.model"] = model
        if server_address:
            attrs["server.address"] = server_address
        if server_port:
            attrs["server.port"] = server_port
        if max_tokens is not None:
            attrs["gen_ai.request.max_tokens"] = max_tokens
        if temperature is not None:
            attrs["gen_ai.request.temperature"] = temperature
        if key_id:
            attrs["modeltrail.key.id"] = key_id
        if team:
            attrs["modeltrail.team"] = team
        span = self._tracer.start_span(
            f"{operation} {model}" if model else operation,
            context=context,
            kind=self._kind,
            attributes=attrs,
        )
        return RequestSpan(span)

    def start_request(
        self,
        parent: TraceContext | None,
        *,
        path: str,
        provider: str,
        backend_url: str,
        body: Any,
    ) -> RequestSpan | None:
        """Open the span of a request to `backend_url` from its parsed `body` (None when off)."""
        fields = body if isinstance(body, dict) else {}
        model = fields.get("model")
        max_tokens = fields.get("max_tokens")
        temperature = fields.get("temperature")
        return self.start(
            parent,
            path=path,
            provider=provider,
            model=model if isinstance(model, str) else None,
            server_address=backend_url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0],
            server_port=None,
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
            temperature=float(temperature) if isinstance(temperature, int | float) else None,
        )

    def shutdown(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()
            self._provider = None
            self._tracer = None
