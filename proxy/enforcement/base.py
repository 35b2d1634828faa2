"""The contract between the forwarding path and kill enforcement / session tracking.

The forwarding app (`proxy/app.py`) only ever talks to an `Enforcement`: a
synchronous, O(1) `check` before forwarding and at every stream chunk, and
fire-and-forget session bookkeeping that must never block or fail the request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from schemas.events import LLMRequest, LLMResponse, SessionCommand

__all__ = ["Enforcement"]


class Enforcement(Protocol):
    """Kill state and session bookkeeping, as seen by the forwarding path."""

    async def start(self) -> None:
        """Replay the compacted command topic, then follow it live. Idempotent."""

    async def stop(self) -> None:
        """Stop following; idempotent."""

    def check(self, session_id: str, now: datetime | None = None) -> SessionCommand | None:
        """The kill command blocking this session right now, or None. Never awaits."""

    def observe_request(self, event: LLMRequest) -> None:
        """Record a request in the session store (non-blocking, never raises)."""

    def observe_response(self, event: LLMResponse) -> None:
        """Record a response in the session store (non-blocking, never raises)."""
