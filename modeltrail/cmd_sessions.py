"""`modeltrail sessions`: list, inspect, kill, resume and revoke PII through the control API."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import typer
from rich.console import Console
from rich.table import Table

from proxy.control.errors import ControlConfigError
from proxy.control.keyfile import read_key_file

app = typer.Typer(help="Sessions seen by the proxy: list, show, kill, resume, revoke PII.")

ControlUrl = typer.Option(
    "http://127.0.0.1:9090", "--control", envvar="MODELTRAIL_CONTROL_URL", help="control API"
)
ControlKey = typer.Option(
    None,
    "--key",
    envvar="MODELTRAIL_CONTROL_KEY",
    help="bearer key; default: the key file `modeltrail up` generated",
)
KeyFile = typer.Option(
    Path("./modeltrail-data/control.key"),
    "--key-file",
    envvar="MODELTRAIL_CONTROL_KEY_FILE",
    help="file holding the bearer key when --key is not given",
)


def control_key(key: str | None, key_file: Path) -> str | None:
    """The given key, else the one in `key_file` (None when there is no such file)."""
    if key:
        return key
    try:
        return read_key_file(key_file)
    except ControlConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


def _client(control: str, key: str | None) -> httpx.Client:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=control, headers=headers, timeout=10.0)


def _call(control: str, key: str | None, method: str, path: str, **kw: Any) -> Any:
    if method == "POST" and "json" not in kw and "content" not in kw:
        kw["json"] = {}  # the control API takes state changes only as JSON
    try:
        with _client(control, key) as client:
            resp = client.request(method, path, **kw)
    except httpx.HTTPError as exc:
        typer.echo(f"control API at {control} unreachable: {exc}", err=True)
        raise typer.Exit(2) from exc
    if resp.status_code >= 400:
        typer.echo(f"{resp.status_code}: {resp.text}", err=True)
        raise typer.Exit(1)
    return resp.json()


def _print_json(data: Any) -> None:
    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


@app.command("list")
def list_cmd(
    control: str = ControlUrl,
    key: str | None = ControlKey,
    key_file: Path = KeyFile,
    flagged: bool = typer.Option(False, "--flagged", help="only sessions with violations"),
    killed: bool = typer.Option(False, "--killed", help="only killed sessions"),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List sessions, most recently seen first."""
    params: dict[str, Any] = {"limit": limit}
    if flagged:
        params["flagged"] = True
    if killed:
        params["killed"] = True
    data = _call(control, control_key(key, key_file), "GET", "/control/sessions", params=params)
    if as_json:
        _print_json(data)
        return
    table = Table(
        "session", "backend", "model", "requests", "tokens", "flagged", "killed", "last seen"
    )
    for s in data["sessions"]:
        table.add_row(
            str(s.get("session_id")),
            str(s.get("backend") or ""),
            str(s.get("model") or ""),
            str(s.get("requests", "")),
            str(s.get("total_tokens", "")),
            f"{s.get('violations', 0)}" if s.get("flagged") else "",
            "yes" if s.get("killed") else "",
            str(s.get("last_seen") or ""),
        )
    Console().print(table)


@app.command("show")
def show_cmd(
    session_id: str,
    control: str = ControlUrl,
    key: str | None = ControlKey,
    key_file: Path = KeyFile,
) -> None:
    """Show one session with its kill state."""
    _print_json(
        _call(control, control_key(key, key_file), "GET", f"/control/sessions/{session_id}")
    )


@app.command("kill")
def kill_cmd(
    session_id: str,
    reason: str = typer.Option("killed by operator", "--reason"),
    duration: float | None = typer.Option(None, "--duration", help="seconds; else permanent"),
    until: datetime | None = typer.Option(None, "--until", help="ISO time the block ends"),
    control: str = ControlUrl,
    key: str | None = ControlKey,
    key_file: Path = KeyFile,
) -> None:
    """Kill a session on every proxy replica (permanent unless --duration or --until)."""
    body: dict[str, Any] = {"reason": reason, "mode": "permanent"}
    if duration is not None:
        body.update(mode="duration", duration_s=duration)
    elif until is not None:
        body.update(mode="until", until=until.isoformat())
    _print_json(
        _call(
            control,
            control_key(key, key_file),
            "POST",
            f"/control/sessions/{session_id}/kill",
            json=body,
        )
    )


@app.command("resume")
def resume_cmd(
    session_id: str,
    reason: str = typer.Option("", "--reason"),
    control: str = ControlUrl,
    key: str | None = ControlKey,
    key_file: Path = KeyFile,
) -> None:
    """Lift a kill on every proxy replica."""
    _print_json(
        _call(
            control,
            control_key(key, key_file),
            "POST",
            f"/control/sessions/{session_id}/resume",
            json={"reason": reason},
        )
    )


@app.command("revoke-pii")
def revoke_pii_cmd(
    session_id: str,
    entity: str | None = typer.Option(
        None, "--entity", help="one placeholder, e.g. EMAIL_1; default: the whole session"
    ),
    control: str = ControlUrl,
    key: str | None = ControlKey,
    key_file: Path = KeyFile,
) -> None:
    """Revoke PII placeholders: later answers show [REVOKED] instead of the value."""
    path = f"/control/sessions/{session_id}/pii/revoke"
    _print_json(_call(control, control_key(key, key_file), "POST", path, json={"entity": entity}))
