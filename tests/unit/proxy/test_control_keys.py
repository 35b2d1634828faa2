"""Client keys and scoped kills through the control API (in-process), and `modeltrail keys`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import orjson
import pytest
import uvicorn
from typer.testing import CliRunner

from modeltrail.cli import app as cli
from modeltrail.embedded.process import free_port
from proxy.control import create_control_app
from proxy.enforcement import EnforcementService
from proxy.keys.gate import ClientGate
from proxy.keys.tokens import looks_like_key
from proxy.settings import ProxySettings
from schemas.events import SessionCommand
from tests.support.proxy_fakes import CONTROL_KEYS, ListPublisher, LocalKeys

ADMIN = {"Authorization": "Bearer admin-key-789"}
KILL = {"Authorization": "Bearer kill-key-456"}
READ = {"Authorization": "Bearer read-key-123"}


def _control(keys: LocalKeys, publisher: ListPublisher, **settings: object) -> object:
    cfg = ProxySettings(client_auth="keys", **settings)  # type: ignore[arg-type]
    gate = ClientGate(cfg, keys)
    return create_control_app(cfg, EnforcementService(cfg), publisher, gate=gate)


@pytest.fixture
def keys() -> LocalKeys:
    return LocalKeys()


@pytest.fixture
def publisher() -> ListPublisher:
    return ListPublisher()


@pytest.fixture
def client(keys: LocalKeys, publisher: ListPublisher) -> httpx.AsyncClient:
    app = _control(keys, publisher, control_keys=CONTROL_KEYS)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:9090"
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "path", "auth", "status"),
    [
        ("POST", "/control/keys", None, 401),
        ("POST", "/control/keys", READ, 403),
        ("POST", "/control/keys", KILL, 403),
        ("GET", "/control/keys", READ, 403),
        ("GET", "/control/keys/mk_0123456789abcdef", ADMIN, 404),
        ("GET", "/control/keys/not-a-key-id", ADMIN, 422),
        ("POST", "/control/scopes/team/red/kill", READ, 403),
        ("POST", "/control/scopes/planet/red/kill", KILL, 422),
        ("POST", "/control/scopes/team/a%20b/kill", KILL, 422),
    ],
)
async def test_key_routes_need_their_scope(
    client: httpx.AsyncClient, method: str, path: str, auth: dict[str, str] | None, status: int
) -> None:
    body = {"team": "red"} if path == "/control/keys" else {}
    r = await client.request(method, path, json=body, headers=auth or {})
    assert r.status_code == status, r.text


async def test_create_show_rotate_disable(
    client: httpx.AsyncClient, keys: LocalKeys, publisher: ListPublisher
) -> None:
    body = {"team": "red", "user": "ana", "models": ["gpt-4o*"], "rpm": 10, "expires_in_s": 3600}
    made = await client.post("/control/keys", json=body, headers=ADMIN)
    assert made.status_code == 201, made.text
    key_id, key = made.json()["key_id"], made.json()["key"]
    assert looks_like_key(key) and made.json()["record"]["issuer"] == "operator:root"
    listed = await client.get("/control/keys", headers=ADMIN)
    text = listed.text
    assert key_id in text and key not in text and "key_hash" not in text
    assert listed.json()["keys"][0]["expires_at"] is not None
    rotated = await client.post(f"/control/keys/{key_id}/rotate", json={}, headers=ADMIN)
    new = rotated.json()["key"]
    assert new != key and rotated.json()["key_id"] == key_id
    assert keys.registry.authenticate(new, keys.written[-1].time).key_id == key_id
    off = await client.post(f"/control/keys/{key_id}/disable", json={}, headers=ADMIN)
    assert off.json()["disabled"] is True and keys.registry.get(key_id).disabled  # type: ignore[union-attr]
    # Key records never travel through the event emitter, and no stored form is the key.
    assert publisher.events == []
    assert all(key not in orjson.dumps(r.model_dump(mode="json")).decode() for r in keys.written)


async def test_scoped_commands_carry_identity(
    client: httpx.AsyncClient, publisher: ListPublisher
) -> None:
    made = await client.post("/control/keys", json={"team": "red", "user": "ana"}, headers=ADMIN)
    key_id = made.json()["key_id"]
    for path in (
        f"/control/scopes/key/{key_id}/kill",
        "/control/scopes/team/red/kill",
        f"/control/sessions/{key_id}:s1/kill",
        "/control/scopes/team/red/resume",
    ):
        r = await client.post(path, json={"reason": "t"}, headers=KILL)
        assert r.status_code == 200, r.text
    key_kill, team_kill, session_kill, team_resume = publisher.of(SessionCommand)
    assert (key_kill.scope, key_kill.subject, key_kill.session_id) == (
        "key",
        key_id,
        f"key:{key_id}",
    )
    assert (key_kill.team, key_kill.user) == ("red", "ana")
    assert (team_kill.scope, team_kill.session_id, team_kill.team) == ("team", "team:red", "red")
    assert (session_kill.scope, session_kill.key_id, session_kill.team) == (
        "session",
        key_id,
        "red",
    )
    assert team_resume.command == "resume" and team_resume.session_id == "team:red"


@pytest.fixture
def served(keys: LocalKeys, publisher: ListPublisher) -> Iterator[str]:
    """The control app on a real port (open: loopback, no control keys) for the CLI."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(_control(keys, publisher), host="127.0.0.1", port=port, log_level="error")  # type: ignore[arg-type]
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive()
        threading.Event().wait(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_cli_create_prints_id_then_key_last(served: str, keys: LocalKeys) -> None:
    # The CLI reads the admin key the control API generated (no keys configured).
    runner = CliRunner(env={"MODELTRAIL_CONTROL_KEY_FILE": str(ProxySettings().control_key_file)})
    out = runner.invoke(
        cli,
        ["keys", "create", "--team", "red", "--models", "gpt-4o*", "--rpm", "5",
         "--budget-usd-day", "2.5", "--expires", "30d", "--control", served],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    *_, key_id, key = out.output.strip().splitlines()
    assert looks_like_key(key) and keys.registry.get(key_id) is not None
    record = keys.registry.get(key_id)
    assert record is not None and record.rpm == 5 and record.budget_usd_day == 2.5
    assert record.expires_at is not None and (record.expires_at - record.created_at).days == 30
    for args in (["keys", "list"], ["keys", "show", key_id], ["keys", "kill", key_id],
                 ["teams", "kill", "red"], ["teams", "resume", "red"], ["keys", "disable", key_id]):  # fmt: skip
        res = runner.invoke(cli, [*args, "--control", served])
        assert res.exit_code == 0, (args, res.output)
        assert key not in res.output
    disabled = keys.registry.get(key_id)
    assert disabled is not None and disabled.disabled
    enabled = runner.invoke(cli, ["keys", "enable", key_id, "--control", served])
    assert enabled.exit_code == 0, enabled.output
    again = keys.registry.get(key_id)
    assert again is not None and not again.disabled
    rotated = runner.invoke(cli, ["keys", "rotate", key_id, "--control", served])
    assert rotated.output.strip().splitlines()[-2] == key_id
    assert looks_like_key(rotated.output.strip().splitlines()[-1])
    assert rotated.output.strip().splitlines()[-1] != key
    bad = runner.invoke(
        cli, ["keys", "create", "--team", "red", "--expires", "soon", "--control", served]
    )
    assert bad.exit_code != 0
