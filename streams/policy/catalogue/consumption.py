"""Unbounded consumption (LLM10): volume per session and a rate anomaly against its baseline."""

from __future__ import annotations

from streams.policy.catalogue._build import rule

__all__ = ["RULES"]

RULES = (
    rule("RL-001", "Requests per minute above the session limit", "LLM10", "high", "block", {"session"}, "consumption",
         kind="volume", metric="requests_per_minute", threshold=120),
    rule("RL-002", "Tokens per session above the limit", "LLM10", "warning", "flag", {"session"}, "consumption",
         kind="volume", metric="tokens_total", threshold=2_000_000),
    rule("RL-003", "Bytes per session above the limit", "LLM10", "warning", "flag", {"session"}, "consumption",
         kind="volume", metric="bytes_total", threshold=50_000_000),
    rule("RL-004", "Oversized prompt (characters in one request)", "LLM10", "warning", "flag", {"request"}, "consumption",
         kind="volume", metric="prompt_chars", threshold=200_000),
    rule("RL-005", "Session open longer than the limit", "LLM10", "info", "flag", {"session"}, "consumption",
         kind="volume", metric="session_duration_s", threshold=8 * 3600),
    rule("RL-006", "Request rate far above the session's own baseline", "LLM10", "warning", "flag", {"session"}, "consumption",
         kind="volume", metric="rate_anomaly", threshold=5.0),
)  # fmt: skip
