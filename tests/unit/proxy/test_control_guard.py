"""The control API is never open: generated admin key, Host allow-list, JSON-only writes."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from proxy.control import ControlConfigError, create_control_app
from proxy.control.keyfile import ensure_admin_key, read_key_file
from proxy.enforcement import EnforcementService
from proxy.settings import ProxySettings
from tests.support.proxy_fakes import CONTROL_KEYS, ListPublisher


def control(settings: ProxySettings, host: str = "127.0.0.1:9090") -> httpx.AsyncClient:
    app = create_control_app(settings, EnforcementService(settings), ListPublisher())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")


async def test_no_keys_configured_generates_a_private_admin_key(tmp_path: Path) -> None:
    key_file = tmp_path / "data" / "control.key"
    settings = ProxySettings(control_key_file=key_file)
    async with control(settings) as client:
        # The attacker on the same machine, without the key: nothing to read or resume.
        assert (await client.get("/control/sessions")).status_code == 401
        resume = await client.post("/control/sessions/mine/resume", json={})
        assert resume.status_code == 401
        reload = await client.post("/control/policy/reload", json={})
        assert reload.status_code == 401
        key = read_key_file(key_file)
        assert key is not None and len(key) > 30
        ok = await client.get("/control/sessions", headers={"authorization": f"Bearer {key}"})
        assert ok.status_code == 200
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    # A restart keeps the key.
    again, created = ensure_admin_key(key_file)
    assert not created and again.key.get_secret_value() == key


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "control.key"
    key_file.write_text("mtc-something\n")
    key_file.chmod(0o644)
    with pytest.raises(ControlConfigError, match="chmod 600"):
        read_key_file(key_file)


@pytest.fixture
def keyed() -> ProxySettings:
    return ProxySettings(control_keys=CONTROL_KEYS)


ADMIN = {"authorization": "Bearer admin-key-789"}


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:9090", 200),
        ("localhost:9090", 200),
        ("[::1]:9090", 200),
        ("localhost", 200),
        ("attacker.example:9090", 400),  # DNS rebinding: the page's own name
        ("127.0.0.1.attacker.example", 400),
        ("", 400),
    ],
)
async def test_host_must_be_on_the_allow_list(keyed: ProxySettings, host: str, status: int) -> None:
    async with control(keyed) as client:
        resp = await client.get("/control/sessions", headers={**ADMIN, "host": host})
        assert resp.status_code == status, resp.text
        if status == 400:
            assert resp.json()["error"]["type"] == "invalid_host"
        # Probes stay open whatever Host they send.
        health = await client.get("/control/health", headers={"host": host})
        assert health.status_code == 200


async def test_bind_address_and_wildcards_extend_the_allow_list() -> None:
    settings = ProxySettings(
        control_keys=CONTROL_KEYS,
        control_host="10.0.0.5",
        control_allowed_hosts=["*.corp.example"],
    )
    async with control(settings) as client:
        for host, status in [("10.0.0.5:9090", 200), ("ctl.corp.example", 200), ("x.io", 400)]:
            resp = await client.get("/control/sessions", headers={**ADMIN, "host": host})
            assert resp.status_code == status, host


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/control/sessions/victim/kill", "text/plain"),
        ("/control/sessions/mine/resume", "application/x-www-form-urlencoded"),
        ("/control/sessions/mine/resume", "multipart/form-data; boundary=x"),
        ("/control/sessions/mine/resume", None),
        ("/control/policy/reload", None),
    ],
)
async def test_state_changing_posts_need_json(
    keyed: ProxySettings, path: str, content_type: str | None
) -> None:
    # What a cross-origin form or fetch without preflight can send.
    headers = {**ADMIN, **({"content-type": content_type} if content_type else {})}
    async with control(keyed) as client:
        resp = await client.post(path, content=b"reason=x", headers=headers)
        assert resp.status_code == 415, resp.text
        assert resp.json()["error"]["type"] == "unsupported_media_type"
        ok = await client.post(path, json={}, headers=ADMIN)
        assert ok.status_code == 200, ok.text
