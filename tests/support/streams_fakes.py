"""Test doubles for the worker's unit tests: a tiny fixed policy engine and event builders.

The real engine has its own tests in `policy/`; these keep the worker's tests independent
of the rule catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from schemas.events import (
    BlockMode,
    ChatMessage,
    LLMRequest,
    LLMResponse,
    StreamWindow,
)
from schemas.signing import CommandSigner
from streams.policy.types import Finding, SessionContext

SIGNER = CommandSigner((("test-key", b"0123456789abcdef0123"),))
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Rules:
    risk_kill_threshold: float = 100.0
    risk_half_life_s: float = 600.0
    kill_block_mode: BlockMode = "duration"
    kill_duration_s: float = 900.0


@dataclass
class TinyEngine:
    """`KILLME` -> a kill rule; `secret` -> a high flag (25 points); `boom` -> raises."""

    mode: Literal["enforce", "audit"] = "enforce"
    version: str = "tiny-1"
    session: Rules = field(default_factory=Rules)
    contexts: list[SessionContext] = field(default_factory=list)

    def evaluate(
        self,
        event: LLMRequest | LLMResponse | StreamWindow,
        ctx: SessionContext,
        quiet: list[int] | None = None,
    ) -> list[Finding]:
        # Never reports a part quiet: every part is judged again, as without the cache.
        self.contexts.append(ctx)
        if isinstance(event, LLMRequest):
            text = " ".join(m.content for m in event.messages)
        else:
            text = event.text or ""
        if "boom" in text:
            raise RuntimeError("rule bug")
        out: list[Finding] = []
        if "KILLME" in text:
            out.append(
                Finding("t.kill", "kill rule", "LLM01", "critical", "kill", "request", "user")
            )
        for _ in range(text.count("secret")):
            out.append(Finding("t.flag", "flag rule", "LLM02", "high", "flag", "request", "user"))
        return out

    def risk_points(self, finding: Finding) -> float:
        return {"info": 1.0, "warning": 5.0, "high": 25.0, "critical": 60.0}[finding.severity]


def request(text: str, *, session: str = "s1", at: float = 0.0, body_bytes: int = 10) -> LLMRequest:
    """A user request `at` seconds after T0."""
    return LLMRequest(
        source="proxy-test",
        session_id=session,
        request_id=f"r-{text[:8]}-{at}",
        time=T0 + timedelta(seconds=at),
        backend="fake",
        provider="openai",
        path="/v1/chat/completions",
        messages=[ChatMessage(role="user", content=text)],
        body_bytes=body_bytes,
    )


def response(text: str, *, session: str = "s1", at: float = 0.0, tokens: int = 7) -> LLMResponse:
    return LLMResponse(
        source="proxy-test",
        session_id=session,
        time=T0 + timedelta(seconds=at),
        backend="fake",
        provider="openai",
        path="/v1/chat/completions",
        status_code=200,
        latency_ms=3.0,
        total_tokens=tokens,
        text=text,
        body_bytes=100,
    )
