"""Control API for client keys (admin scope): create, list, show, rotate, disable.

A key is returned once, by create and rotate; only its keyed hash is stored,
on the compacted `identity.keys` topic (acked before the call returns). Views
never carry the hash.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from proxy.control.auth import Principal, require
from proxy.keys.book import KeySource
from proxy.keys.errors import KeyBookError
from proxy.keys.tokens import key_hash, new_key, new_key_id
from schemas.identity import KeyRecord
from schemas.ids import uuid7

__all__ = ["KeyCreate", "KeyIssued", "keys_router", "public_view"]

log = logging.getLogger(__name__)

KeyId = Annotated[str, Path(pattern=r"^mk_[0-9a-f]{16}$")]


class KeyCreate(BaseModel):
    """What a new key may do."""

    model_config = ConfigDict(extra="forbid")

    team: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@-]+$")
    user: str | None = Field(default=None, max_length=256, pattern=r"^[A-Za-z0-9_.@-]+$")
    backends: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    budget_usd_day: float | None = Field(default=None, gt=0)
    budget_usd_month: float | None = Field(default=None, gt=0)
    expires_in_s: float | None = Field(default=None, gt=0)


class KeyIssued(BaseModel):
    """A key, shown this once, and its record (without the hash)."""

    key_id: str
    key: str
    record: dict[str, Any]


def public_view(record: KeyRecord) -> dict[str, Any]:
    """A key record as the API shows it: everything but the hash."""
    return record.model_dump(mode="json", exclude={"key_hash"})


def keys_router(book: KeySource) -> APIRouter:
    """Routes under /control/keys."""
    router = APIRouter(prefix="/control/keys", tags=["keys"])
    admin = Depends(require("admin"))

    def _held(key_id: str) -> KeyRecord:
        record = book.registry.get(key_id)
        if record is None:
            raise HTTPException(status_code=404, detail="unknown key id")
        return record

    async def _write(record: KeyRecord) -> None:
        try:
            await book.write(record)
        except KeyBookError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from exc
        log.info("key_written", extra={"key_id": record.key_id, "issuer": record.issuer})

    @router.post("", status_code=201)
    async def create(body: KeyCreate, who: Principal = admin) -> KeyIssued:
        """Issue a key; the response is the only place the key ever appears."""
        key, now = new_key(), datetime.now(UTC)
        expires = now + timedelta(seconds=body.expires_in_s) if body.expires_in_s else None
        record = KeyRecord(
            key_id=new_key_id(),
            key_hash=key_hash(book.secret, key),
            time=now,
            created_at=now,
            expires_at=expires,
            issuer=f"operator:{who.id}",
            **body.model_dump(exclude={"expires_in_s"}),
        )
        await _write(record)
        return KeyIssued(key_id=record.key_id, key=key, record=public_view(record))

    @router.get("", dependencies=[admin])
    async def list_keys() -> dict[str, Any]:
        """Every key (newest version of each), oldest first."""
        records = [public_view(r) for r in book.registry.all()]
        return {"count": len(records), "keys": records}

    @router.get("/{key_id}", dependencies=[admin])
    async def show(key_id: KeyId) -> dict[str, Any]:
        """One key's record."""
        return public_view(_held(key_id))

    @router.post("/{key_id}/rotate")
    async def rotate(key_id: KeyId, who: Principal = admin) -> KeyIssued:
        """A new key for the same id (grants, limits and spend stay); the old key stops."""
        key = new_key()
        record = _held(key_id).model_copy(
            update={
                "key_hash": key_hash(book.secret, key),
                "time": datetime.now(UTC),
                "event_id": uuid7(),
                "issuer": f"operator:{who.id}",
            }
        )
        await _write(record)
        return KeyIssued(key_id=key_id, key=key, record=public_view(record))

    @router.post("/{key_id}/disable")
    async def disable(key_id: KeyId, who: Principal = admin) -> dict[str, Any]:
        """Refuse the key on every replica (401) from now on."""
        return await _set_disabled(key_id, True, who)

    @router.post("/{key_id}/enable")
    async def enable(key_id: KeyId, who: Principal = admin) -> dict[str, Any]:
        """Accept a disabled key again."""
        return await _set_disabled(key_id, False, who)

    async def _set_disabled(key_id: str, disabled: bool, who: Principal) -> dict[str, Any]:
        record = _held(key_id).model_copy(
            update={
                "disabled": disabled,
                "time": datetime.now(UTC),
                "event_id": uuid7(),
                "issuer": f"operator:{who.id}",
            }
        )
        await _write(record)
        return public_view(record)

    return router
