"""The one emitter contract: what the forwarding app, enforcement and the control API need.

`Emitter` (`proxy/emitter.py`) is the production implementation; tests hand in
in-process ones. `publish` is synchronous: it only enqueues and never blocks.
"""

from __future__ import annotations

from typing import Protocol

from schemas.events import EventEnvelope

__all__ = ["Publisher"]


class Publisher(Protocol):
    """A non-blocking event publisher with an explicit broker-down policy."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def publish(self, event: EventEnvelope) -> bool:
        """Enqueue one event for Kafka (keyed by session); False when it was dropped."""
        ...

    def accepting(self) -> bool:
        """False when new requests must be refused (`fail_closed`, broker down)."""
        ...

    def stats(self) -> dict[str, object]:
        """Queue depth, sent, dropped, spooled, spool bytes..."""
        ...
