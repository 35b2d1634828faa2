"""`modeltrail policy`: validate policy files, evaluate text offline, list the rules."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
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


def _parse(line: str) -> tuple[str, str, str]:
    """(text, role, target) of one input line: JSON object, JSON string, or plain text.

    A line that is JSON but no text (a number, `null`, a list that is not a conversation)
    is read as the plain text it is: "42" is a row too.
    """
    try:
        item = json.loads(line)
    except ValueError:
        return line.rstrip("\r\n"), "user", "request"
    if isinstance(item, str):
        return item, "user", "request"
    if not isinstance(item, dict):
        return line.rstrip("\r\n"), "user", "request"
    text = item.get("text", item.get("prompt"))
    if isinstance(text, str):
        target = str(item.get("target", "request"))
        if target not in get_args(Target) or target == "session":
            raise ValueError(f"unknown target {target!r}")
        role = str(item.get("role", "user" if target == "request" else "assistant"))
        return text, role, target
    raise ValueError(
        'expected plain text, a JSON string, {"text"|"prompt": ..., "role": ...}, '
        '{"messages": [...]} or {"path": ..., "body": {...}}'
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


def _body_item(line: str) -> dict[str, Any] | None:
    """`{"path"?, "body"}` as given; a bare conversation (`{"messages": [...]}` or a list of
    `{"role", "content"}` turns) as a chat completions body."""
    if '"body"' not in line and '"messages"' not in line and '"role"' not in line:
        return None
    try:
        item = json.loads(line)
    except ValueError:
        return None
    if isinstance(item, dict) and "body" in item:
        return item
    if isinstance(item, dict) and isinstance(item.get("messages"), list):
        path = item.get("path") or ("/v1/messages" if "system" in item else None)
        return {"path": path, "body": {k: v for k, v in item.items() if k != "path"}}
    if isinstance(item, list) and item and all(isinstance(t, dict) and "role" in t for t in item):
        return {"body": {"messages": item}}
    return None


def _judge(engine: PolicyEngine, line: str) -> dict[str, Any]:
    item = _body_item(line)
    if item is not None:
        findings = _judge_body(engine, item)
    else:
        text, role, target = _parse(line)
        findings = engine.evaluate_text(text, role=role, target=cast(Target, target))
    out: list[dict[str, Any]] = []
    for f in findings:
        d: dict[str, Any] = {
            "rule": f.rule_id, "severity": f.severity, "action": f.action, "owasp": f.owasp
        }  # fmt: skip
        if f.score is not None:
            d["score"] = f.score
        out.append(d)
    return {"findings": out, "action": decide(findings)}


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
        item = _body_item(line)
        try:
            if item is not None:  # a whole request body: every string of it, as the proxy does
                body = item["body"]
                done = asyncio.run(service.transform(backend, "offline", body))
                return {"transformed": body, "entities": dict(done.counts) if done else {}}
            text, _, _ = _parse(line)
            new, counts = asyncio.run(service.transform_text(text, backend))
        except EntityBlocked as exc:
            return {"blocked": exc.message}
        return {"transformed": new, "entities": counts}

    return run


@app.command("eval")
def eval_cmd(
    file: Path | None = typer.Argument(None, help="input file (default: stdin)"),
    preset: str = _PRESET,
    policy: list[Path] | None = _POLICY,
    summary: bool = typer.Option(True, help="print a summary line last"),
    transform: bool = _TRANSFORM,
    pii_policy: Path | None = _PII_POLICY,
) -> None:
    """Judge each input line; one verdict line per line, then a summary line.

    A line is plain text, a JSON string, a JSON object {"text" or "prompt": ...,
    "role": user|tool|system|assistant, "target": request|response|...}, a whole
    request {"path": "/v1/messages", "body": {...}} whose parts are extracted by the
    proxy's dialects, so the verdict is the one the proxy and the worker reach, or a bare
    conversation ({"messages": [...]}, or a list of {"role", "content"} turns). Each verdict
    lists the findings with their rule, OWASP tag, severity, action (and classifier score).
    `--transform` adds the text (or body) as the PII transform would forward it.
    """
    engine = _engine(preset, policy)
    transformer = _transformer(pii_policy) if transform else None
    rows = flagged = errors = 0
    by_owasp: Counter[str] = Counter()
    by_rule: Counter[str] = Counter()
    stream = file.open(encoding="utf-8", errors="replace") if file else sys.stdin
    try:
        for line in stream:
            if not line.strip():
                continue
            rows += 1
            try:
                out = _judge(engine, line)
                if transformer is not None:
                    out.update(transformer(line))
            except (ValueError, TypeError) as exc:
                errors += 1
                out = {"error": str(exc)}
            else:
                flagged += bool(out["findings"])
                by_owasp.update({f["owasp"] for f in out["findings"]})
                by_rule.update(f["rule"] for f in out["findings"])
            sys.stdout.write(json.dumps(out) + "\n")
    finally:
        if file:
            stream.close()
    if summary:
        doc = {
            "rows": rows, "with_findings": flagged, "errors": errors, "preset": engine.name,
            "by_owasp": dict(sorted(by_owasp.items())), "by_rule": dict(by_rule.most_common()),
        }  # fmt: skip
        sys.stdout.write(json.dumps({"summary": doc}) + "\n")
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
