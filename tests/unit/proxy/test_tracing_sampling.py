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


def test_the_span_carries_the_genai_and_modeltrail_attributes() -> None:
    """What the export thread builds from a request's record (no prompt text to carry)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanKind, StatusCode

    dead = f"http://127.0.0.1:{free_port()}/v1/traces"
    tracing = RequestTracing(
        TracingSettings(enabled=True, endpoint=dead, export_timeout_ms=100), "t"
    )
    try:
        span = tracing.start_request(
            SAMPLED,
            path="/v1/chat/completions",
            provider="openai",
            backend_url="https://api.example.com:8443/v1",
            body={"model": "gpt-4o-mini", "max_tokens": 50, "temperature": 1, "messages": []},
            key_id="mk_0000000000000b0c",
            team="payments",
        )
        assert span is not None
        span.end(
            status_code=502,
            outcome="upstream_error",
            session_id="mk_0000000000000b0c:s1",
            decision="allow",
            finish_reasons=["stop"],
            ttfb_s=0.25,
            stream=True,
        )
        readable = span.readable(Resource.create({}), InstrumentationScope("modeltrail.proxy"))
    finally:
        tracing.shutdown()
    assert readable.name == "chat gpt-4o-mini" and readable.kind is SpanKind.CLIENT
    assert readable.parent is not None and readable.parent.span_id == int(SAMPLED.span_id, 16)
    assert readable.status.status_code is StatusCode.ERROR
    assert readable.start_time is not None and readable.end_time is not None
    assert readable.start_time <= readable.end_time
    assert dict(readable.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "server.address": "api.example.com",
        "gen_ai.request.max_tokens": 50,
        "gen_ai.request.temperature": 1.0,
        "modeltrail.key.id": "mk_0000000000000b0c",
        "modeltrail.team": "payments",
        "http.response.status_code": 502,
        "modeltrail.outcome": "upstream_error",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.response.time_to_first_chunk": 0.25,
        "gen_ai.conversation.id": "mk_0000000000000b0c:s1",
        "modeltrail.session.id": "mk_0000000000000b0c:s1",
        "modeltrail.policy.decision": "allow",
        "error.type": "upstream_error",
    }


def test_otel_sdk_disabled_turns_tracing_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from schemas.telemetry import TracingSettings

    assert TracingSettings(enabled=True).enabled
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not TracingSettings(enabled=True).enabled
