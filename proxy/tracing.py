"""OpenTelemetry GenAI spans for proxied requests (off unless `tracing.enabled`).

One CLIENT span per request, named `{gen_ai.operation.name} {gen_ai.request.model}`
(OpenTelemetry GenAI semantic conventions), child of the client's W3C `traceparent`
when it sent one. The upstream request carries this span's `traceparent`, and every
Kafka event of the request carries its trace and span ids, so a violation in the trail
links to its trace. Attributes never include prompt or answer text.

On the request path a span is a `RequestSpan` record: random ids, two clock readings and
the raw values the attributes are made of. The export thread (`SpanQueue`) builds the
attributes and the SDK's `ReadableSpan` from it; a request pays a few microseconds where
an SDK span costs tens.

With tracing off nothing here runs on the request path; a client's `traceparent` is
still forwarded unchanged and its trace id recorded on the events.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from schemas.telemetry import SpanQueue, TraceContext, TraceStats, TracingSettings, random_id

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

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


class _Request(NamedTuple):
    """What a span records at its start (attributes are built in the export thread)."""

    operation: str
    provider: str
    model: str | None
    server_address: str | None
    server_port: int | None
    max_tokens: int | None
    temperature: float | None
    key_id: str | None
    team: str | None


class _Answer(NamedTuple):
    """What a span records at its end."""

    status_code: int
    outcome: str
    response_model: str | None
    input_tokens: int | None
    output_tokens: int | None
    finish_reasons: Sequence[str]
    time_to_first_chunk_s: float | None  # streams only
    session_id: str | None
    decision: str | None
    rule_ids: Sequence[str]
    error_type: str | None


@functools.lru_cache(maxsize=256)
def operation_of(path: str) -> str:
    """The GenAI operation name of a canonical request path (`chat` when unknown)."""
    trimmed = path.split("?", 1)[0].rstrip("/")
    for suffix, name in OPERATIONS.items():
        if trimmed.endswith("/" + suffix):
            return name
    return "chat"


@functools.lru_cache(maxsize=64)
def _host_of(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]


class RequestSpan:
    """The span of one proxied request; `end` exactly once (later calls do nothing)."""

    __slots__ = ("_answer", "_end_ns", "_parent", "_queue", "_request", "_start_ns", "context")

    def __init__(
        self,
        context: TraceContext,
        parent: TraceContext | None,
        request: _Request,
        queue: SpanQueue | None,
    ) -> None:
        self.context = context
        self._parent = parent
        self._request = request
        self._queue = queue  # None: not sampled, nothing is exported
        self._start_ns = time.time_ns()
        self._end_ns = 0
        self._answer: _Answer | None = None

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
        queue = self._queue
        if queue is None:
            return
        self._queue = None
        self._end_ns = time.time_ns()
        self._answer = _Answer(
            status_code,
            outcome,
            response_model,
            input_tokens,
            output_tokens,
            finish_reasons,
            ttfb_s if stream else None,
            session_id,
            decision,
            rule_ids,
            error_type,
        )
        queue.put(self)

    def readable(self, resource: Resource, scope: InstrumentationScope) -> ReadableSpan:
        """The SDK's form of the ended span (built in the export thread)."""
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

        req, ans = self._request, self._answer
        assert ans is not None, "only ended spans are exported"
        attrs: dict[str, str | int | float | bool | Sequence[str]] = {
            "gen_ai.operation.name": req.operation,
            "gen_ai.provider.name": req.provider,
        }
        if req.model:
            attrs["gen_ai.request.model"] = req.model
        if req.server_address:
            attrs["server.address"] = req.server_address
        if req.server_port:
            attrs["server.port"] = req.server_port
        if req.max_tokens is not None:
            attrs["gen_ai.request.max_tokens"] = req.max_tokens
        if req.temperature is not None:
            attrs["gen_ai.request.temperature"] = req.temperature
        if req.key_id:
            attrs["modeltrail.key.id"] = req.key_id
        if req.team:
            attrs["modeltrail.team"] = req.team
        attrs["http.response.status_code"] = ans.status_code
        attrs["modeltrail.outcome"] = ans.outcome
        if ans.response_model:
            attrs["gen_ai.response.model"] = ans.response_model
        if ans.input_tokens is not None:
            attrs["gen_ai.usage.input_tokens"] = ans.input_tokens
        if ans.output_tokens is not None:
            attrs["gen_ai.usage.output_tokens"] = ans.output_tokens
        if ans.finish_reasons:
            attrs["gen_ai.response.finish_reasons"] = list(ans.finish_reasons)
        if ans.time_to_first_chunk_s is not None:
            attrs["gen_ai.response.time_to_first_chunk"] = ans.time_to_first_chunk_s
        if ans.session_id:
            attrs["gen_ai.conversation.id"] = ans.session_id
            attrs["modeltrail.session.id"] = ans.session_id
        if ans.decision:
            attrs["modeltrail.policy.decision"] = ans.decision
        if ans.rule_ids:
            attrs["modeltrail.policy.rule_ids"] = list(ans.rule_ids)
        status = Status(StatusCode.UNSET)
        outcome = ans.outcome
        if ans.error_type or ans.status_code >= 500 or outcome not in ("ok", "blocked", "killed"):
            attrs["error.type"] = ans.error_type or outcome
            status = Status(StatusCode.ERROR, outcome)
        trace_id = int(self.context.trace_id, 16)
        parent = self._parent
        return ReadableSpan(
            f"{req.operation} {req.model}" if req.model else req.operation,
            context=SpanContext(
                trace_id, int(self.context.span_id, 16), False, TraceFlags(TraceFlags.SAMPLED)
            ),
            parent=SpanContext(
                trace_id, int(parent.span_id, 16), True, TraceFlags(TraceFlags.SAMPLED)
            )
            if parent is not None
            else None,
            resource=resource,
            attributes=attrs,
            kind=SpanKind.CLIENT,
            status=status,
            start_time=self._start_ns,
            end_time=self._end_ns,
            instrumentation_scope=scope,
        )


class RequestTracing:
    """Owns the span queue of one proxy process."""

    def __init__(self, settings: TracingSettings, instance_id: str) -> None:
        self.enabled = settings.enabled
        self._queue: SpanQueue | None = None
        self.stats = TraceStats()
        if self.enabled:
            from opentelemetry.sdk.trace.sampling import DEFAULT_ON

            self._queue = SpanQueue(settings, "modeltrail-proxy", instance_id, "modeltrail.proxy")
            self.stats = self._queue.stats
            # The default sampler's decision is the parent's flag (or yes): no SDK call.
            self._parent_based = self._queue.sampler is DEFAULT_ON

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
        queue = self._queue
        if queue is None:
            return None
        operation = operation_of(path)
        trace_id = int(parent.trace_id, 16) if parent is not None else random_id(128)
        if self._parent_based:
            sampled = parent.sampled if parent is not None else True
        else:
            sampled = self._sampled(
                parent, trace_id, f"{operation} {model}" if model else operation
            )
        context = TraceContext(
            parent.trace_id if parent is not None else f"{trace_id:032x}",
            f"{random_id(64):016x}",
            sampled,
        )
        request = _Request(
            operation, provider, model, server_address, server_port, max_tokens, temperature,
            key_id, team,
        )  # fmt: skip
        return RequestSpan(context, parent, request, queue if sampled else None)

    def _sampled(self, parent: TraceContext | None, trace_id: int, name: str) -> bool:
        """The configured (OTEL_TRACES_SAMPLER) sampler's decision for a new span."""
        from opentelemetry.sdk.trace.sampling import Decision
        from opentelemetry.trace import (
            NonRecordingSpan,
            SpanContext,
            SpanKind,
            TraceFlags,
            set_span_in_context,
        )

        assert self._queue is not None
        context = None
        if parent is not None:
            remote = SpanContext(
                trace_id,
                int(parent.span_id, 16),
                is_remote=True,
                trace_flags=TraceFlags(TraceFlags.SAMPLED if parent.sampled else 0),
            )
            context = set_span_in_context(NonRecordingSpan(remote))
        result = self._queue.sampler.should_sample(context, trace_id, name, SpanKind.CLIENT)
        return result.decision is Decision.RECORD_AND_SAMPLE  # RECORD_ONLY is not exported

    def start_request(
        self,
        parent: TraceContext | None,
        *,
        path: str,
        provider: str,
        backend_url: str,
        body: Any,
        key_id: str | None = None,
        team: str | None = None,
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
            server_address=_host_of(backend_url),
            server_port=None,
            max_tokens=max_tokens if isinstance(max_tokens, int) else None,
            temperature=float(temperature) if isinstance(temperature, int | float) else None,
            key_id=key_id,
            team=team,
        )

    def shutdown(self) -> None:
        """Export the spans still queued, then stop (blocking: up to the export timeout)."""
        if self._queue is not None:
            self._queue.shutdown()
            self._queue = None
