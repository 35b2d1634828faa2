"""Topic names and the table each event type lands in."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.events import (
    DeadLetter,
    EventEnvelope,
    LLMRequest,
    LLMResponse,
    SessionCommand,
    StreamWindow,
    Violation,
)

__all__ = ["TABLES", "Topics"]

#: Parquet table name -> event model. One table per event type.
TABLES: dict[str, type[EventEnvelope]] = {
    "requests": LLMRequest,
    "responses": LLMResponse,
    "stream_windows": StreamWindow,
    "violations": Violation,
    "session_commands": SessionCommand,
    "deadletter": DeadLetter,
}


@dataclass(frozen=True, slots=True)
class Topics:
    """Every topic name, with the configured prefix applied."""

    prefix: str = ""

    def _t(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def requests(self) -> str:
        return self._t("llm.requests")

    @property
    def responses(self) -> str:
        return self._t("llm.responses")

    @property
    def stream_windows(self) -> str:
        return self._t("llm.stream-windows")

    @property
    def violations(self) -> str:
        return self._t("audit.violations")

    @property
    def commands(self) -> str:
        return self._t("session.commands")

    @property
    def keys(self) -> str:
        """Compacted: the latest record per client key id (`schemas.identity.KeyRecord`)."""
        return self._t("identity.keys")

    @property
    def deadletter(self) -> str:
        return self._t("audit.deadletter")

    def for_event(self, event: EventEnvelope) -> str:
        """The topic an event is published to."""
        return self.by_model()[type(event)]

    def by_model(self) -> dict[type[EventEnvelope], str]:
        return {
            LLMRequest: self.requests,
            LLMResponse: self.responses,
            StreamWindow: self.stream_windows,
            Violation: self.violations,
            SessionCommand: self.commands,
            DeadLetter: self.deadletter,
        }

    def all(self) -> list[str]:
        return [*self.by_model().values(), self.keys]

    def compacted(self) -> list[str]:
        """Topics where the latest record per key is the state."""
        return [self.commands, self.keys]

    def event_topics(self) -> list[str]:
        """The topics the proxy produces: what streams judge and sinks archive."""
        return [self.requests, self.responses, self.stream_windows]

    def table_of(self, topic: str) -> str | None:
        """The Parquet table for a topic, or None for a topic not archived."""
        model = {v: k for k, v in self.by_model().items()}.get(topic)
        if model is None:
            return None
        return next(name for name, m in TABLES.items() if m is model)
