"""Request and response bodies of the control API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from proxy.enforcement.session_store import SessionInfo
from schemas.events import SessionCommand

Delivery = Literal["acked", "queued", "not_sent"]

__all__ = [
    "CommandResult",
    "Delivery",
    "HistoryPage",
    "KillRequest",
    "ResumeRequest",
    "SessionList",
]


class KillRequest(BaseModel):
    """Kill a session: for `duration_s` seconds, `until` a time, or permanently."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=1000)
    mode: Literal["duration", "until", "permanent"] = "permanent"
    duration_s: float | None = Field(default=None, gt=0)
    until: datetime | None = None
    rule_id: str | None = Field(default="operator.kill", max_length=200)

    @model_validator(mode="after")
    def _consistent(self) -> KillRequest:
        if self.mode == "duration" and self.duration_s is None:
            raise ValueError("mode 'duration' needs duration_s")
        if self.mode == "until":
            if self.until is None:
                raise ValueError("mode 'until' needs until")
            if self.until.tzinfo is None:
                raise ValueError("until must carry a timezone (e.g. ...Z)")
        return self

    def expires_at(self, now: datetime) -> datetime | None:
        if self.mode == "duration" and self.duration_s is not None:
            return now + timedelta(seconds=self.duration_s)
        if self.mode == "until" and self.until is not None:
            return self.until.astimezone(UTC)
        return None


class ResumeRequest(BaseModel):
    """Lift a kill."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=1000)


class CommandResult(BaseModel):
    """What a kill or resume did."""

    command: SessionCommand
    applied: bool = Field(description="false when this replica already had a newer state")
    published: bool = Field(description="sent or queued for Kafka (every replica applies it)")
    delivery: Delivery = Field(description="acked by the broker, queued (or spooled), not sent")


class SessionList(BaseModel):
    """A page of sessions."""

    count: int
    sessions: list[SessionInfo]
    total: int | None = Field(default=None, description="matches in the window (paged calls)")
    offset: int = 0
    capped: bool = Field(default=False, description="the window was full: total is a floor")


class HistoryPage(BaseModel):
    """Events from the Parquet trail, newest first (metadata only)."""

    count: int
    events: list[dict[str, Any]]
