"""Control API PII endpoints: revoke placeholders (kill scope) and transform counters (read).

`POST /control/sessions/{id}/pii/revoke` with `{"entity": "EMAIL_1"}` revokes one
placeholder, with `{}` or `{"entity": null}` the whole session: later answers
restore revoked placeholders as `[REVOKED]`. The vault lives in the session
store, so with the Redis store every replica sees a revocation at once.
Nothing here returns a value or a mapping.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from proxy.control.auth import require
from proxy.pii.errors import VaultUnavailable
from proxy.pii.service import PIIService

__all__ = ["RevokeRequest", "RevokeResult", "pii_router"]

SessionId = Annotated[str, Path(min_length=1, max_length=512)]


class RevokeRequest(BaseModel):
    """What to revoke: one placeholder (`EMAIL_1` or `⟦EMAIL_1⟧`), or None for all."""

    model_config = ConfigDict(extra="forbid")

    entity: str | None = Field(default=None, max_length=64, pattern=r"^\S+$")


class RevokeResult(BaseModel):
    session_id: str
    revoked: str


def pii_router(pii: PIIService | None) -> APIRouter:
    """The PII routes over this replica's transform (404 when it is off)."""
    router = APIRouter(tags=["pii"])
    reader = Depends(require("read"))
    killer = Depends(require("kill"))

    def service() -> PIIService:
        if pii is None:
            raise HTTPException(status_code=404, detail="the PII transform is disabled")
        return pii

    @router.post("/control/sessions/{session_id}/pii/revoke", dependencies=[killer])
    async def revoke(session_id: SessionId, body: RevokeRequest | None = None) -> RevokeResult:
        """Revoke one placeholder or the whole session's: later rehydration gives [REVOKED]."""
        entity = body.entity if body is not None else None
        try:
            await service().vault.revoke(session_id, entity)
        except VaultUnavailable as exc:
            raise HTTPException(status_code=503, detail=exc.message) from exc
        return RevokeResult(session_id=session_id, revoked=entity or "*")

    @router.get("/control/pii", dependencies=[reader])
    async def stats() -> dict[str, object]:
        """This replica's transform counters (no values, no mappings)."""
        return {"enabled": pii is not None, **(asdict(pii.stats) if pii is not None else {})}

    return router
