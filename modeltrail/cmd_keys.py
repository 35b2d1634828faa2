"""`modeltrail keys` and `modeltrail teams`: client keys and kills by key, team or user.

`keys create` prints the key id on the line before last and the key alone on
the last line (so `| tail -1` captures it); the key is never shown again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from modeltrail.cmd_sessions import ControlKey, ControlUrl, KeyFile, _call, _print_json, control_key

__all__ = ["keys_app", "parse_duration", "teams_app", "users_app"]

keys_app = typer.Typer(help="Client keys (mt-...): create, list, show, rotate, disable, kill.")
teams_app = typer.Typer(help="Teams: kill or resume every key of a team on every replica.")
users_app = typer.Typer(help="Users: kill or resume every key of a user on every replica.")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """`30d`, `12h`, `15m`, `90s`, `2w` -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not match:
        raise typer.BadParameter(f"{text!r}: use a number and a unit (s, m, h, d, w), e.g. 30d")
    return float(match.group(1)) * _UNITS[match.group(2)]


@keys_app.command("create")
def create_cmd(
    team: str = typer.Option(..., "--team"),
    user: str | None = typer.Option(None, "--user"),
    models: list[str] = typer.Option([], "--models", help="allowed model glob (repeatable)"),
    backends: list[str] = typer.Option([], "--backend", help="allowed backend (repeatable)"),
    rpm: int | None = typer.Option(None, "--rpm", min=1),
    tpm: int | None = typer.Option(None, "--tpm", min=1),
    budget_day: float | None = typer.Option(None, "--budget-usd-day", min=0.000001),
    budget_month: float | None = typer.Option(None, "--budget-usd-month", min=0.000001),
    expires: str | None = typer.Option(None, "--expires", help="e.g. 30d, 12h"),
    control: str = ControlUrl,
    key: str | None = ControlKey,
    key_file: Path = KeyFile,
) -> None:
    """Issue a key. The last line is the key itself: it is shown this once."""
    body: dict[str, Any] = {
        "team": team,
        "user": user,
        "models": models,
        "backends": backends,
        "rpm": rpm,
        "tpm": tpm,
        "budget_usd_day": budget_day,
        "budget_usd_month": budget_month,
        "expires_in_s": parse_duration(expires) if expires else None,
    }
    issued = _call(control, control_key(key, key_file), "POST", "/control/keys", json=body)
    typer.echo(
        f"team {team}"
        + (f", user {user}" if user else "")
        + ": store the key now, it is shown once"
    )
    typer.echo(issued["key_id"])
    typer.echo(issued["key"])


@keys_app.command("list")
def list_cmd(
    control: str = ControlUrl,
    key: str | None = ControlKey,
    key_file: Path = KeyFile,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Every key with its team, user, limits and state (never the key)."""
    data = _call(control, control_key(key, key_file), "GET", "/control/keys")
    if as_json:
        _print_json(data)
        return
    table = Table(
        "key id", "team", "user", "models", "rpm", "tpm", "$/day", "$/month", "expires", "state"
    )
    for k in data["keys"]:
        table.add_row(
            k["key_id"],
            k["team"],
            k.get("user") or "",
            ",".join(k.get("models") or []) or "*",
            str(k.get("rpm") or ""),
            str(k.get("tpm") or ""),
            str(k.get("budget_usd_day") or ""),
            str(k.get("budget_usd_month") or ""),
            str(k.get("expires_at") or ""),
            "disabled" if k.get("disabled") else "active",
        )
    Console().print(table)


@keys_app.command("show")
def show_cmd(
    key_id: str,
    control: str = ControlUrl,
    key: str | None = ControlKey,
    key_file: Path = KeyFile,
) -> None:
    """One key's record."""
    _print_json(_call(control, control_key(key, key_file), "GET", f"/control/keys/{key_id}"))


def _print_issued(issued: dict[str, Any]) -> None:
    typer.echo(issued["key_id"])
    typer.echo(issued["key"])


def _key_action(action: str, help_text: str, show: Callable[[dict[str, Any]], None]) -> None:
    """`keys ACTION KEY_ID`: POST /control/keys/KEY_ID/ACTION, then `show` the answer."""

    @keys_app.command(action, help=help_text)
    def run(
        key_id: str,
        control: str = ControlUrl,
        key: str | None = ControlKey,
        key_file: Path = KeyFile,
    ) -> None:
        show(_call(control, control_key(key, key_file), "POST", f"/control/keys/{key_id}/{action}"))


_key_action(
    "rotate",
    "A new key for the same id; the old key stops at once. The last line is the new key.",
    _print_issued,
)
_key_action("disable", "Refuse the key (401) on every replica.", _print_json)
_key_action("enable", "Accept a disabled key again.", _print_json)


def _scoped(
    scope: str, subject: str, command: str, reason: str, control: str, key: str | None
) -> None:
    """`key` is already resolved (given or read from the key file)."""
    body: dict[str, Any] = {"reason": reason}
    if command == "kill":
        body["mode"] = "permanent"
    _print_json(
        _call(control, key, "POST", f"/control/scopes/{scope}/{subject}/{command}", json=body)
    )


def _kill_resume(app: typer.Typer, scope: str, noun: str) -> None:
    @app.command("kill")
    def kill(
        subject: str = typer.Argument(..., metavar=noun.upper()),
        reason: str = typer.Option(f"{noun} killed by operator", "--reason"),
        control: str = ControlUrl,
        key: str | None = ControlKey,
        key_file: Path = KeyFile,
    ) -> None:
        """Refuse every session of it on every replica, streams in flight included."""
        _scoped(scope, subject, "kill", reason, control, control_key(key, key_file))

    @app.command("resume")
    def resume(
        subject: str = typer.Argument(..., metavar=noun.upper()),
        reason: str = typer.Option("", "--reason"),
        control: str = ControlUrl,
        key: str | None = ControlKey,
        key_file: Path = KeyFile,
    ) -> None:
        """Lift its kill on every replica."""
        _scoped(scope, subject, "resume", reason, control, control_key(key, key_file))


_kill_resume(keys_app, "key", "key id")
_kill_resume(teams_app, "team", "team")
_kill_resume(users_app, "user", "user")
