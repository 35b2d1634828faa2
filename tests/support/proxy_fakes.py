"""In-process stand-ins shared by the proxy unit tests (not the code under test)."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from proxy.settings import ControlKey
from schemas.events import EventEnvelope

__all__ = ["CONTROL_KEYS", "ListPublisher", "LocalKeys"]

#: One control API key per scope: read-key-123 (read), kill-key-456 (kill), admin-key-789 (admin).
CONTROL_KEYS = [
    ControlKey(id="viewer", key=SecretStr("read-key-123"), scopes=["read"]),
    ControlKey(id="oncall", key=SecretStr("kill-key-456"), scopes=["kill"]),
    ControlKey(id="root", key=SecretStr("admin-key-789"), scopes=["admin"]),
]


class ListPublisher:
    """An in-process emitter: keeps what it is asked to publish; `up = False` fails closed."""

    def __init__(self) -> None:
        self.events: list[EventEnvelope] = []
        self.up = True

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def publish(self, event: EventEnvelope) -> bool:
        self.events.append(event)
        return True

    def accepting(self) -> bool:
        return self.up

    def stats(self) -> dict[str, object]:
        return {"queued": len(self.events)}

    def of(self, kind: type[EventEnvelope]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


class LocalKeys:
    """An in-process `KeySource`: the real registry, writes applied here only (no topic)."""

    def __init__(self, secret: bytes = b"test-key-secret") -> None:
        from proxy.keys.registry import KeyRegistry

        self.secret = secret
        self.registry = KeyRegistry(secret)
        self.written: list[Any] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def write(self, record: Any) -> None:
        self.written.append(record)
        self.registry.apply(record)
