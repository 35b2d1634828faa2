"""`modeltrail policy`: validate policy files, evaluate text offline, list the rules."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any, cast, get_args

import typer

from schemas.events import Target
from streams.policy import PRESETS, PolicyEngine, PolicyValidationError, decide, load_policy

app = typer.Typer(help="Policy: validate files, evaluate text offline, list rules.")

_PRESET = typer.Option("standard", "--preset", "-p", help=f"one of {', '.join(PRESETS)}")
_POLICY = typer.Option(None, "--policy", "-f", help="policy YAML file(s) on top of the preset")
_TRANSFORM = typer.Option(
    False, "--transform", help="also show the text as the PII transform forwards it"
)
_PII_POLICY = typer.Option(None, "--pii-policy", help="PII policy YAML (actions, custom entities)")


def _engine(preset: str, policy: list[Path] | None) -> PolicyEngine:
    try:
        return load_policy(preset, policy or [])
    except PolicyValidationError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


@app.command("validate")
def validate_cmd(
    file: Path = typer.Argument(..., help="the policy YAML file"),
    preset: str = typer.Option("standard", "--preset", "-p", help="preset the file applies to"),
) -> None:
    """Check a policy file; errors name the file, line and field (exit 1 when invalid)."""
    try:
        engine = load_policy(preset, [file])
    except PolicyValidationError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"{file}: ok ({len(engine.rules)} rules, mode {engine.mode}, version {engine.version})"
    )


def _judge(engine: PolicyEngine, line: str) -> dict[str, Any]:
    item = json.loads(line)
    if isinstance(item, str):
        text, role, target = item, "user", "request"
    elif isinstance(item, dict) and isinstance(item.get("text"), str):
        text = item["text"]
        role = str(
            item.get("role", "user" if item.get("target", "request") == "request" else "assistant")
        )
        target = item.get("target", "request")
        if target not in get_args(Target) or target == "session":
            raise ValueError(f"unknown target {target!r}")
    else:
        raise ValueError('expected a JSON string or {"text": ..., "role": ..., "target": ...}')
    findings = engine.evaluate_text(text, role=role, target=cast(Target, target))
    return {
        "findings": [
            {"rule": f.rule_id, "severity": f.severity, "action": f.action, "owasp": f.owasp}
            for f in findings
        ],
        "action": decide(findings),
    }


def _transformer(pii_policy: Path | None) -> Any:
    """`line -> {"transformed", "entities"}` with a memory vault (one offline session)."""
    from proxy.pii.errors import EntityBlocked
    from proxy.pii.service import PIIService
    from proxy.pii.settings import PIISettings
    from proxy.settings import BackendConfig, ProxySettings

    try:
        settings = ProxySettings(pii=PIISettings(policy_file=pii_policy))
        service = PIIService.from_settings(settings)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    backend = BackendConfig(name="offline", url="https://backend.invalid")

    def run(line: str) -> dict[str, Any]:
        item = json.loads(line)
        text = item if isinstance(item, str) else str(item.get("text", ""))
        try:
            new, counts = asyncio.run(service.transform_text(text, backend))
        except EntityBlocked as exc:
            return {"blocked": exc.message}
        return {"transformed": new, "entities": counts}

    return run


@app.command("eval")
def eval_cmd(
    preset: str = _PRESET,
    policy: list[Path] | None = _POLICY,
    transform: bool = _TRANSFORM,
    pii_policy: Path | None = _PII_POLICY,
) -> None:
    """Read JSON lines from stdin, write one verdict line per input line."""
    engine = _engine(preset, policy)
    transformer = _transformer(pii_policy) if transform else None
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            out = _judge(engine, line)
            if transformer is not None:
                out.update(transformer(line))
        except (ValueError, TypeError) as exc:
            out = {"error": str(exc)}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        sys.stdout.flush()


@app.command("show")
def show_cmd(
    preset: str = _PRESET,
    policy: list[Path] | None = _POLICY,
    as_json: bool = typer.Option(False, "--json", help="one JSON object per rule"),
) -> None:
    """List the rules a preset (plus files) enables."""
    engine = _engine(preset, policy)
    if as_json:
        for r in engine.rules:
            typer.echo(json.dumps(r.summary()))
        return
    typer.echo(
        f"# {engine.name}: {len(engine.rules)} rules, mode {engine.mode}, version {engine.version}"
    )
    for r in sorted(engine.rules, key=lambda r: r.id):
        targets = ",".join(sorted(r.targets))
        typer.echo(
            f"{r.id:<8} {r.owasp}  {r.severity:<8} {r.action:<5} {targets:<40} {r.description}"
        )
