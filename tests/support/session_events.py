"""Builders of sample events shared by the tests (session stores, emitter queues, ...).

`from tests.support.session_events import ...`. Every field can be overridden by keyword.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.events import (
    BlockMode,
    CommandKind,
    LLMRequest,
    LLMResponse,
    SessionCommand,
    Violation,
    utcnow,
)
from schemas.ids import uuid7
from schemas.signing import SigningSettings, load_ring

__all__ = [
    "CLIENT_IP",
    "KEY_FP",
    "command",
    "llm_request",
    "llm_response",
    "numbered_request",
    "violation",
]

CLIENT_IP = "10.0.0.1"
KEY_FP = "fp_0123456789abcdef"
_CHAT = {"source": "t", "provider": "openai", "path": "/v1/chat/completions"}


def llm_request(sid: str, at: datetime, backend: str = "openai", **kw: Any) -> LLMRequest:
    """A chat request of session `sid` from CLIENT_IP with the API-key fingerprint KEY_FP."""
    fields = {"model": "gpt-x", "client_ip": CLIENT_IP, "api_key_fingerprint": KEY_FP, **kw}
    return LLMRequest(**_CHAT, session_id=sid, time=at, backend=backend, **fields)


def llm_response(sid: str, at: datetime, status: int = 200, **kw: Any) -> LLMResponse:
    """A chat response of session `sid` with the given status (no usage unless given)."""
    fields = {"latency_ms": 3.0, "backend": "openai", **kw}
    return LLMResponse(**_CHAT, session_id=sid, time=at, status_code=status, **fields)


def violation(sid: str, event_id: str, at: datetime, rule: str = "pii.email") -> Violation:
    """A high-severity `flag` violation with a fixed event id (to test counting once)."""
    return Violation(
        event_id=event_id,
        source="streams",
        session_id=sid,
        time=at,
        rule_id=rule,
        owasp="LLM02",
        severity="high",
        action="flag",
        enforced=True,
        target="request",
    )


def command(
    sid: str,
    kind: CommandKind = "kill",
    at: datetime | None = None,
    *,
    mode: BlockMode | None = "permanent",
    expires_at: datetime | None = None,
    signed: bool = True,
    **kw: Any,
) -> SessionCommand:
    """A session command issued `at` (default now); `mode` applies to a kill only.

    Signed with the test session's ring (what every service of the session verifies).
    """
    fields = {"reason": "test kill", "rule_id": "test.rule", "decision_id": uuid7(), **kw}
    cmd = SessionCommand(
        source="test",
        issuer="test",
        session_id=sid,
        time=at or utcnow(),
        command=kind,
        block_mode=mode if kind == "kill" else None,
        expires_at=expires_at,
        **fields,
    )
    return load_ring(SigningSettings()).sign(cmd) if signed else cmd


def numbered_request(i: int) -> LLMRequest:
    """Request number `i` (id `r-{i:05d}`, sorting in order) of one of three sessions `s-0..2`."""
    return LLMRequest(
        source="t",
        session_id=f"s-{i % 3}",
        request_id=f"r-{i:05d}",
        backend="b",
        provider="openai",
        method="POST",
        path="/v1/chat/completions",
    )
