"""Pure construction of request and response events from bodies, per provider.

What a request says is read by its provider's dialect (`proxy.dialects.extract`):
the event's `messages` are the dialect's parts, the same texts the inline check
judges. No I/O and no clock reads beyond the event defaults. The capture policy
decides what text enters an event: `all` and `flagged_only` keep message text
(`flagged_only` is decided downstream, so the proxy captures what it may need),
`metadata_only` keeps none. Captured text is capped at `max_bytes` characters
per body; `truncated` says so. Raw API keys never reach an event: callers pass
the salted fingerprint only.
"""

from __future__ import annotations

from typing import Literal, Unpack

from proxy.construct import Constructor
from proxy.dialects import Assembled, RequestFacts, extract
from proxy.keys.registry import Who
from schemas.events import (
    ChatMessage,
    EntityCount,
    LLMRequest,
    LLMResponse,
    Outcome,
    Provider,
    StreamWindow,
    utcnow,
)
from schemas.ids import uuid7
from schemas.telemetry import TraceContext

__all__ = [
    "CapturePolicy",
    "build_rejection",
    "build_request",
    "build_response",
    "build_window",
    "cap_parts",
]

CapturePolicy = Literal["all", "flagged_only", "metadata_only"]

# `model_construct` without its per-field loop (`proxy.construct`): two events a request.
_request = Constructor(LLMRequest)
_response = Constructor(LLMResponse)
_window = Constructor(StreamWindow)


def cap_parts(messages: list[ChatMessage], max_chars: int) -> tuple[list[ChatMessage], bool]:
    """The parts cut to `max_chars` characters in all, and whether anything was cut."""
    total = 0
    for i, m in enumerate(messages):
        total += len(m.content)
        if total > max_chars:
            keep = max(0, len(m.content) - (total - max_chars))
            cut = ChatMessage.model_construct(
                role=m.role,
                content=m.content[:keep],
                name=m.name,
                tool_call_id=m.tool_call_id,
                kind=m.kind,
            )
            return [*messages[:i], cut], True
    return messages, False


def build_request(
    *,
    source: str,
    session_id: str,
    request_id: str,
    backend: str,
    provider: Provider,
    method: str,
    path: str,
    body: object,
    body_bytes: int,
    client_ip: str | None,
    user_agent: str | None,
    key_fp: str | None,
    policy: CapturePolicy,
    max_chars: int,
    pii_counts: dict[str, int] | None = None,
    trace: TraceContext | None = None,
    extracted: tuple[list[ChatMessage], RequestFacts] | None = None,
    truncated_before: bool = False,
    **who: Unpack[Who],
) -> LLMRequest:
    """The request event (its `event_id` is the request id).

    `body` is the parsed JSON (or, for `passthrough`, the body's text when it is not
    JSON); `extracted` is what `proxy.dialects.extract` already read from it, if the
    caller has it (`truncated_before`: those parts were capped already).
    `pii_counts`: entity type -> values the PII transform replaced in `body`.
    """
    messages: list[ChatMessage] = []
    truncated = truncated_before
    captured = policy != "metadata_only"
    parts, facts = extracted if extracted is not None else extract(provider, path, body)
    if captured and parts:
        messages, cut = cap_parts(parts, max_chars)
        truncated = truncated or cut
    return _request(
        event_id=request_id,
        time=utcnow(),
        source=source,
        session_id=session_id,
        request_id=request_id,
        trace_id=trace.trace_id if trace else None,
        span_id=trace.span_id if trace else None,
        backend=backend,
        provider=provider,
        method=method,
        path=path,
        model=facts.model,
        stream=facts.stream,
        client_ip=client_ip,
        user_agent=user_agent,
        api_key_fingerprint=key_fp,
        messages=messages,
        tools=list(facts.tools),
        max_tokens=facts.max_tokens,
        temperature=facts.temperature,
        body_bytes=body_bytes,
        captured=captured,
        truncated=truncated,
        pii_entities=[
            EntityCount.model_construct(type=k, count=n) for k, n in sorted(pii_counts.items())
        ]
        if pii_counts
        else [],
        **who,
    )


def build_response(
    *,
    source: str,
    session_id: str,
    request_id: str,
    backend: str,
    provider: Provider,
    path: str,
    model: str | None,
    stream: bool,
    status_code: int,
    outcome: Outcome,
    ttfb_ms: float | None,
    latency_ms: float,
    result: Assembled | None,
    body_bytes: int,
    policy: CapturePolicy,
    max_chars: int,
    error_type: str | None = None,
    error_message: str | None = None,
    trace: TraceContext | None = None,
    cost_usd: float | None = None,
    **who: Unpack[Who],
) -> LLMResponse:
    """The response event; `result` is what the parsers assembled (None when nothing)."""
    r = result or Assembled()
    captured = policy != "metadata_only"
    text: str | None = None
    truncated = False
    if captured and (r.text or stream or status_code < 400):
        text = r.text
        if len(text) > max_chars:
            text, truncated = text[:max_chars], True
    total = r.total_tokens
    if total is None and r.input_tokens is not None and r.output_tokens is not None:
        total = r.input_tokens + r.output_tokens
    return _response(
        event_id=uuid7(),
        time=utcnow(),
        source=source,
        session_id=session_id,
        request_id=request_id,
        trace_id=trace.trace_id if trace else None,
        span_id=trace.span_id if trace else None,
        backend=backend,
        provider=provider,
        path=path,
        model=r.model or model,
        stream=stream,
        status_code=status_code,
        outcome=outcome,
        ttfb_ms=ttfb_ms,
        latency_ms=latency_ms,
        input_tokens=r.input_tokens,
        output_tokens=r.output_tokens,
        total_tokens=total,
        cached_input_tokens=r.cached_input_tokens,
        cost_usd=cost_usd,
        text=text,
        tool_calls=r.tool_calls if captured else [],
        finish_reason=r.finish_reason,
        error_type=error_type or r.error_type,
        error_message=error_message or r.error_message,
        body_bytes=body_bytes,
        captured=captured,
        truncated=truncated,
        **who,
    )


def build_rejection(
    *,
    source: str,
    session_id: str,
    request_id: str,
    backend: str,
    provider: Provider,
    path: str,
    status_code: int,
    outcome: Outcome,
    latency_ms: float,
    error_type: str,
    error_message: str,
    trace: TraceContext | None = None,
    **who: Unpack[Who],
) -> LLMResponse:
    """The response event of a request the proxy answered itself with an error.

    Nothing came back from a backend: no text, tokens or timing beyond the latency.
    """
    return build_response(
        source=source,
        session_id=session_id,
        request_id=request_id,
        backend=backend,
        provider=provider,
        path=path,
        model=None,
        stream=False,
        status_code=status_code,
        outcome=outcome,
        ttfb_ms=None,
        latency_ms=latency_ms,
        result=None,
        body_bytes=0,
        policy="all",
        max_chars=0,
        error_type=error_type,
        error_message=error_message,
        trace=trace,
        **who,
    )


def build_window(req: LLMRequest, index: int, offset: int, text: str) -> StreamWindow:
    """One stream window of the answer to `req`: `text` starts at `offset` characters."""
    return _window(
        event_id=uuid7(),
        time=utcnow(),
        tool_calls=[],
        source=req.source,
        session_id=req.session_id,
        request_id=req.request_id,
        trace_id=req.trace_id,
        span_id=req.span_id,
        backend=req.backend,
        provider=req.provider,
        model=req.model,
        window_index=index,
        offset_chars=offset,
        text=text,
        key_id=req.key_id,
        team=req.team,
        user=req.user,
    )
