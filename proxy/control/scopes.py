"""Operator commands: kill or resume a session, key, user or team (the control API's side).

One builder for every scope, so a session kill and a team kill differ only in
their subject; the routes under `/control/scopes/...` hand the command to the
same `issue` path as session kills (applied here, mirrored, published).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path

from proxy.control.auth import Principal
from proxy.control.models import CommandResult, KillRequest, ResumeRequest
from proxy.keys.gate import ClientGate
from proxy.keys.registry import Who
from schemas.events import KillScope, SessionCommand, scope_key, utcnow
from schemas.ids import uuid7

__all__ = ["command_identity", "operator_command", "scopes_router"]

_KEY_ID = re.compile(r"^mk_[0-9a-f]{16}$")

Subject = Annotated[str, Path(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_.@-]+$")]


def operator_command(
    source: str,
    scope: KillScope,
    subject: str,
    who: Principal,
    kill: KillRequest | None,
    resume: ResumeRequest | None = None,
    identity: Who | None = None,
) -> SessionCommand:
    """A kill (`kill` given) or resume of `subject` in `scope`, issued by operator `who`."""
    now = utcnow()
    fields: dict[str, Any] = {
        "source": source,
        "session_id": scope_key(scope, subject),
        "time": now,
        "issuer": f"operator:{who.id}",
        "decision_id": uuid7(),
        **(identity or {}),
    }
    if scope != "session":
        fields.update(scope=scope, subject=subject)
    if kill is not None:
        fields.update(
            command="kill",
            block_mode=kill.mode,
            expires_at=kill.expires_at(now),
            reason=kill.reason,
            rule_id=kill.rule_id,
        )
    else:
        fields.update(command="resume", reason=resume.reason if resume is not None else "")
    return SessionCommand(**fields)


def command_identity(gate: ClientGate | None, scope: KillScope, subject: str) -> Who:
    """Identity fields of an operator command: the key (and its team and user) it is about.

    A session named inside a key (`mk_...:<name>`) belongs to that key.
    """
    if scope == "team":
        return {"team": subject}
    if scope == "user":
        return {"user": subject}
    key_id = subject if scope == "key" else subject.partition(":")[0]
    if scope == "session" and not _KEY_ID.match(key_id):
        return {}
    record = gate.book.registry.get(key_id) if gate and gate.book else None
    if record is None:
        return {"key_id": key_id}
    return {"key_id": key_id, "team": record.team, "user": record.user}


def scopes_router(
    source: str,
    gate: ClientGate | None,
    issue: Callable[[SessionCommand], Awaitable[CommandResult]],
    killer: Any,
) -> APIRouter:
    """`POST /control/scopes/{key|user|team|session}/{subject}/kill` and `/resume`."""
    router = APIRouter(prefix="/control/scopes", tags=["sessions"])

    def identity(scope: KillScope, subject: str) -> Who:
        return command_identity(gate, scope, subject)

    @router.post("/{scope}/{subject}/kill")
    async def kill(
        scope: KillScope, subject: Subject, body: KillRequest, who: Principal = killer
    ) -> CommandResult:
        """Block every session of a key, user or team on every replica, streams included."""
        ident = identity(scope, subject)
        return await issue(operator_command(source, scope, subject, who, body, identity=ident))

    @router.post("/{scope}/{subject}/resume")
    async def resume(
        scope: KillScope,
        subject: Subject,
        body: ResumeRequest | None = None,
        who: Principal = killer,
    ) -> CommandResult:
        """Lift a kill of a key, user or team on every replica."""
        ident = identity(scope, subject)
        cmd = operator_command(source, scope, subject, who, None, body, identity=ident)
        return await issue(cmd)

    return router
