"""Client key records: the compacted `identity.keys` topic, one record per key id.

A record carries only the keyed hash of a client key (HMAC-SHA256 with the
server's key secret), never the key. The latest record per `key_id` is the
key's state: every proxy replica replays the topic at start-up and follows it.
Not an audit table: records are not archived to Parquet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import utcnow
from schemas.ids import uuid7

__all__ = ["KeyRecord"]


class KeyRecord(BaseModel):
    """One modeltrail client key (`mt-...`) as stored: hashed, with its grants and limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["identity.key.v1"] = "identity.key.v1"
    event_id: str = Field(default_factory=uuid7, description="UUIDv7 of this version")
    time: datetime = Field(default_factory=utcnow, description="when this version was written")
    key_id: str = Field(pattern=r"^mk_[0-9a-f]{16}$")
    key_hash: str = Field(description="hex HMAC-SHA256 of the key under the server secret")
    team: str = Field(min_length=1, max_length=128)
    user: str | None = Field(default=None, max_length=256)
    backends: list[str] = Field(default_factory=list, description="allowed backends; empty: all")
    models: list[str] = Field(default_factory=list, description="allowed model globs; empty: all")
    rpm: int | None = Field(default=None, ge=1, description="requests per minute")
    tpm: int | None = Field(default=None, ge=1, description="tokens per minute")
    budget_usd_day: float | None = Field(default=None, gt=0)
    budget_usd_month: float | None = Field(default=None, gt=0)
    expires_at: datetime | None = None
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    issuer: str = Field(default="", description="who created or changed it (operator key id)")

    def newer_than(self, other: KeyRecord) -> bool:
        """Whether this version supersedes `other` (time, then event id)."""
        return (self.time, self.event_id) > (other.time, other.event_id)
