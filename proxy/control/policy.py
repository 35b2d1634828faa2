"""Control API policy endpoints: view (read), validate and reload (admin).

`GET /control/policy` shows the live inline rule set of this replica;
`POST /control/policy/validate` checks a YAML document sent as the body on top
of a preset without installing it; `POST /control/policy/reload` re-reads the
preset and policy files and swaps the rule set atomically. A file that does not
validate leaves the live rule set untouched and answers 422 with every problem
as `file:line: field: message`.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from proxy.control.auth import require
from proxy.inline_policy import InlinePolicy, InlineStats
from streams.policy import PolicyEngine, PolicyValidationError, load_policy

__all__ = ["PolicyView", "RuleView", "policy_router"]

MAX_POLICY_BYTES = 1024 * 1024
Preset = Literal["minimal", "standard", "strict"]


class RuleView(BaseModel):
    """One enabled rule as the control API shows it."""

    id: str
    description: str
    owasp: str
    severity: str
    action: str
    kind: str
    targets: list[str]


class PolicyView(BaseModel):
    """The live inline policy of this replica."""

    inline: bool
    mode: str
    version: str
    preset: str
    files: list[str]
    rule_count: int
    rules: list[RuleView]
    stats: dict[str, int]


class ValidateResult(BaseModel):
    """A policy document that validated (not installed)."""

    valid: bool
    preset: str
    mode: str
    version: str
    rule_count: int


class ReloadResult(BaseModel):
    """What a reload swapped."""

    reloaded: bool
    changed: bool
    previous_version: str
    version: str
    mode: str
    rule_count: int


def _rules(engine: PolicyEngine) -> list[RuleView]:
    return [
        RuleView(
            id=r.id,
            description=r.description,
            owasp=r.owasp,
            severity=r.severity,
            action=r.action,
            kind=r.kind,
            targets=sorted(r.targets),
        )
        for r in sorted(engine.rules, key=lambda r: r.id)
    ]


def _invalid(problems: list[str]) -> JSONResponse:
    body = {
        "error": {
            "type": "invalid_policy",
            "message": f"the policy has {len(problems)} problem(s)",
            "problems": problems,
        }
    }
    return JSONResponse(body, status_code=422)


def _validate(text: str, name: str, preset: str) -> PolicyEngine:
    """Load `text` as policy file `name` on top of `preset` (raises PolicyValidationError)."""
    with tempfile.TemporaryDirectory(prefix="modeltrail-policy-") as tmp:
        path = Path(tmp) / name
        path.write_text(text)
        try:
            return load_policy(preset, [path])
        except PolicyValidationError as exc:
            # Report the name the caller gave, not our temporary directory.
            problems = [p.replace(f"{tmp}/", "") for p in exc.problems]
            raise PolicyValidationError(problems) from None


def _stats(stats: InlineStats) -> dict[str, int]:
    return {
        "checked": stats.checked,
        "blocked": stats.blocked,
        "would_block": stats.would_block,
        "reloads": stats.reloads,
        "parts_judged": stats.parts_judged,
        "parts_skipped": stats.parts_skipped,
        "parts_quiet": stats.parts_quiet,
    }


def policy_router(policy: InlinePolicy) -> APIRouter:
    """The policy routes over this replica's inline policy."""
    router = APIRouter(prefix="/control/policy", tags=["policy"])
    reader = Depends(require("read"))
    admin = Depends(require("admin"))

    @router.get("", dependencies=[reader])
    async def view() -> PolicyView:
        """The live rule set: mode, version, preset, files and every enabled rule."""
        engine = policy.engine
        return PolicyView(
            inline=policy.enabled,
            mode=engine.mode,
            version=engine.version,
            preset=policy.holder.preset,
            files=[str(f) for f in policy.holder.files],
            rule_count=len(engine.rules),
            rules=_rules(engine),
            stats=_stats(policy.stats),
        )

    @router.post(
        "/validate",
        response_model=ValidateResult,
        dependencies=[admin],
        responses={422: {"description": "problems as file:line: field: message"}},
        openapi_extra={
            "requestBody": {"content": {"application/yaml": {"schema": {"type": "string"}}}}
        },
    )
    async def validate(
        request: Request,
        name: Annotated[str, Query(max_length=200, pattern=r"^[\w.-]+$")] = "policy.yaml",
        preset: Preset | None = None,
    ) -> ValidateResult | JSONResponse:
        """Validate a YAML policy document (the body) without installing it."""
        body = await request.body()
        if len(body) > MAX_POLICY_BYTES:
            raise HTTPException(status_code=413, detail="policy document over 1 MiB")
        try:
            text = body.decode()
        except UnicodeDecodeError as exc:
            raise HTTPException(status_code=400, detail="policy must be UTF-8 text") from exc
        base = preset or policy.holder.preset
        try:
            engine = await asyncio.to_thread(_validate, text, name, base)
        except PolicyValidationError as exc:
            return _invalid(exc.problems)
        return ValidateResult(
            valid=True,
            preset=base,
            mode=engine.mode,
            version=engine.version,
            rule_count=len(engine.rules),
        )

    @router.post(
        "/reload",
        response_model=ReloadResult,
        dependencies=[admin],
        responses={422: {"description": "a file is invalid; the live policy is unchanged"}},
    )
    async def reload() -> ReloadResult | JSONResponse:
        """Re-read the preset and policy files and swap the rule set atomically."""
        try:
            old, new = await asyncio.to_thread(policy.reload)
        except PolicyValidationError as exc:
            return _invalid(exc.problems)
        return ReloadResult(
            reloaded=True,
            changed=old.version != new.version,
            previous_version=old.version,
            version=new.version,
            mode=new.mode,
            rule_count=len(new.rules),
        )

    return router
