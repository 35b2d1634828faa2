"""`modeltrail policy`: validate policy files, evaluate text offline, list the rules."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, cast, get_args

import typer

from schemas.events import LLMRequest, Target
from streams.policy import (
    PRESETS,
    Finding,
    PolicyEngine,
    PolicyValidationError,
    SessionContext,
    decide,
    load_policy,
)

app = typer.Typer(help="Policy: validate files, evaluate text offline, list rules.")

_PRESET = typer.Option("standard", "--preset", "-p", help=f"one of {', '.join(PRESETS)}")
_POLICY = typer.Option(None, "--policy", "-f", help="policy YAML file(s) on top of the preset")


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


def _judge_body(engine: PolicyEngine, item: dict[str, Any]) -> list[Finding]:
    """A whole request body, read by its dialect exactly as the proxy reads it."""
    from proxy.dialects import canonical_path, dialect_of, extract

    path = canonical_path(str(item.get("path") or "/v1/chat/completions"))
    provider = dialect_of(path)
    parts, facts = extract(provider, path, item["body"])
    event = LLMRequest(
        source="cli",
        session_id="cli",
        backend="-",
        provider=provider,
        path=path,
        model=facts.model,
        messages=parts,
    )
    return engine.evaluate(event, SessionContext(session_id="cli", now=event.time))


def _text_item(item: object) -> tuple[str, str, Target]:
    if isinstance(item, str):
        return item, "user", "request"
    if isinstance(item, dict) and isinstance(item.get("text"), str):
        target = item.get("target", "request")
        if target not in get_args(Target) or target == "session":
            raise ValueError(f"unknown target {target!r}")
        role = str(item.get("role", "user" if target == "request" else "assistant"))
        return item["text"], role, cast(Target, target)
    raise ValueError(
        'expected a JSON string, {"text": ..., "role": ..., "target": ...} '
        'or {"path": ..., "body": {...}}'
    )


def _judge(engine: PolicyEngine, line: str) -> dict[str, Any]:
    item = json.loads(line)
    if isinstance(item, dict) and "body" in item:
        findings = _judge_body(engine, item)
    else:
        text, role, target = _text_item(item)
        findings = engine.evaluate_text(text, role=role, target=target)
    return {
        "findings": [
            {"rule": f.rule_id, "severity": f.severity, "action": f.action, "owasp": f.owasp}
            for f in findings
        ],
        "action": decide(findings),
    }


@app.command("eval")
def eval_cmd(preset: str = _PRESET, policy: list[Path] | None = _POLICY) -> None:
    """Read JSON lines from stdin, write one verdict line per input line.

    A line is a text (`"..."` or `{"text", "role", "target"}`) or a whole request
    (`{"path": "/v1/messages", "body": {...}}`), whose parts are extracted by the
    proxy's dialects, so the verdict is the one the proxy and the worker reach.
    """
    engine = _engine(preset, policy)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            out = _judge(engine, line)
        except (ValueError, TypeError) as exc:
            out = {"error": str(exc)}
        sys.stdout.write(json.dumps(out) + "\n")
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
