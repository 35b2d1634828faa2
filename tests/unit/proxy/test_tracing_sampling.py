"""Which request spans are sampled: the client's flag under the SDK's default sampler, the
`OTEL_TRACES_SAMPLER` choice otherwise; an unsampled span still gets its own id, forwards
the flag off and never reaches the export queue."""

from __future__ import annotations

import pytest

from modeltrail.embedded.process import free_port
from proxy.tracing import RequestTracing
from schemas.telemetry import TraceContext, TracingSettings

SAMPLED = TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", True)
UNSAMPLED = TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", False)


@pytest.mark.parametrize(
    ("sampler", "parent", "sampled"),
    [
        (None, None, True),
        (None, SAMPLED, True),
        (None, UNSAMPLED, False),
        ("always_off", None, False),
        ("always_off", SAMPLED, False),
        ("always_on", UNSAMPLED, True),
        ("parentbased_always_off", None, False),
        ("parentbased_always_off", SAMPLED, True),
        ("traceidratio", None, False),  # OTEL_TRACES_SAMPLER_ARG=0 below
    ],
)
def test_sampling_decision(
    monkeypatch: pytest.MonkeyPatch,
    sampler: str | None,
    parent: TraceContext | None,
    sampled: bool,
) -> None:
    if sampler is None:
        monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    else:
        monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
        monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    dead = f"http://127.0.0.1:{free_port()}/v1/traces"
    settings = TracingSettings(
        enabled=True, endpoint=dead, export_timeout_ms=100, schedule_delay_ms=60_000
    )
    tracing = RequestTracing(settings, "t")
    try:
        span = tracing.start(
            parent, path="/v1/chat/completions", provider="openai", model="m",
            server_address="backend", server_port=None,
        )  # fmt: skip
        assert span is not None
        ctx = span.context
        assert ctx.sampled is sampled
        assert ctx.traceparent.endswith("-01" if sampled else "-00")
        assert len(ctx.trace_id) == 32 and len(ctx.span_id) == 16 and int(ctx.span_id, 16)
        if parent is not None:
            assert ctx.trace_id == parent.trace_id and ctx.span_id != parent.span_id
        span.end(status_code=200, outcome="ok")
        span.end(status_code=200, outcome="ok")  # a second end records nothing
        assert tracing.stats.queued == (1 if sampled else 0) and tracing.stats.dropped == 0
    finally:
        tracing.shutdown()
    if sampled:  # the endpoint is down: the span is counted as failed, not lost silently
        assert tracing.stats.as_dict() == {"queued": 0, "exported": 0, "failed": 1, "dropped": 0}
