from __future__ import annotations

import httpx
import pytest

from proxy.control import ControlConfigError, KeyAuth, check_bind, create_control_app, is_loopback
from proxy.enforcement import EnforcementService
from proxy.settings import ProxySettings
from schemas.events import SessionCommand
from tests.support.proxy_fakes import CONTROL_KEYS, ListPublisher


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("127.0.0.9", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_duplicate_key_ids_are_refused() -> None:
    with pytest.raises(ControlConfigError, match="unique"):
        check_bind(ProxySettings(control_keys=[CONTROL_KEYS[0], CONTROL_KEYS[0]]))


def test_key_auth_resolves_scopes() -> None:
    auth = KeyAuth(CONTROL_KEYS)
    viewer = auth.identify("read-key-123")
    assert viewer is not None and viewer.id == "viewer"
    assert viewer.allows("read") and not viewer.allows("kill")
    root = auth.identify("admin-key-789")
    assert root is not None and root.allows("kill") and root.allows("read")
    assert auth.identify("read-key-12") is None
    assert auth.identify("") is None and auth.identify(None) is None
    with pytest.raises(ControlConfigError):  # never open
        KeyAuth([])


@pytest.fixture
def publisher() -> ListPublisher:
    return ListPublisher()


@pytest.fixture
def client(publisher: ListPublisher) -> httpx.AsyncClient:
    settings = ProxySettings(control_keys=CONTROL_KEYS)
    app = create_control_app(settings, EnforcementService(settings), publisher)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:9090"
    )


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    ("method", "path", "key", "status"),
    [
        ("GET", "/control/health", None, 200),
        ("GET", "/openapi.json", None, 200),
        ("GET", "/control/sessions", None, 401),
        ("GET", "/control/sessions", "wrong", 401),
        ("GET", "/control/sessions", "read-key-123", 200),
        ("GET", "/control/flagged", "read-key-123", 200),
        ("GET", "/metrics", "read-key-123", 200),
        ("GET", "/metrics", None, 401),
        ("GET", "/control/sessions", "kill-key-456", 403),
        ("POST", "/control/sessions/s1/kill", "read-key-123", 403),
        ("POST", "/control/sessions/s1/kill", None, 401),
        ("POST", "/control/sessions/s1/kill", "kill-key-456", 200),
        ("POST", "/control/sessions/s1/resume", "read-key-123", 403),
        ("POST", "/control/sessions/s1/resume", "admin-key-789", 200),
        ("GET", "/control/sessions/unknown", "admin-key-789", 404),
    ],
)
async def test_scopes_are_enforced(
    client: httpx.AsyncClient, method: str, path: str, key: str | None, status: int
) -> None:
    body = {"reason": "test"} if method == "POST" else None
    response = await client.request(method, path, json=body, headers=bearer(key) if key else {})
    assert response.status_code == status, response.text
    if status in (401, 403, 404):
        assert response.json()["error"]["type"] in {"unauthorized", "forbidden", "not_found"}
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
        assert "key-" not in response.text  # the presented key is never echoed


async def test_kill_applies_locally_and_publishes(
    client: httpx.AsyncClient, publisher: ListPublisher
) -> None:
    r = await client.post(
        "/control/sessions/s9/kill",
        json={"reason": "exfiltration", "mode": "duration", "duration_s": 60},
        headers=bearer("kill-key-456"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["applied"] and body["published"] and body["delivery"] == "queued"
    assert body["command"]["issuer"] == "operator:oncall"
    [event] = publisher.events
    assert isinstance(event, SessionCommand) and event.session_id == "s9"
    assert event.block_mode == "duration" and event.expires_at is not None
    detail = await client.get("/control/sessions/s9", headers=bearer("read-key-123"))
    assert detail.status_code == 200
    assert detail.json()["killed"] is True and detail.json()["kill"]["reason"] == "exfiltration"
    killed = await client.get("/control/sessions?killed=true", headers=bearer("read-key-123"))
    assert [s["session_id"] for s in killed.json()["sessions"]] == ["s9"]

    r = await client.post("/control/sessions/s9/resume", json={}, headers=bearer("kill-key-456"))
    assert r.status_code == 200 and r.json()["command"]["command"] == "resume"
    detail = await client.get("/control/sessions/s9", headers=bearer("read-key-123"))
    assert detail.json()["killed"] is False


@pytest.mark.parametrize(
    "body",
    [
        {"mode": "duration"},
        {"mode": "until"},
        {"mode": "until", "until": "2030-01-01T00:00:00"},
        {"mode": "duration", "duration_s": -1},
        {"mode": "forever"},
        {"unknown": 1},
    ],
)
async def test_bad_kill_bodies_are_422(client: httpx.AsyncClient, body: dict[str, object]) -> None:
    r = await client.post("/control/sessions/s1/kill", json=body, headers=bearer("admin-key-789"))
    assert r.status_code == 422, r.text


async def test_until_kill_sets_expiry(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/control/sessions/s2/kill",
        json={"mode": "until", "until": "2099-01-01T00:00:00+02:00"},
        headers=bearer("admin-key-789"),
    )
    assert r.status_code == 200
    assert r.json()["command"]["expires_at"].startswith("2098-12-31T22:00:00")


async def test_metrics_and_stats(client: httpx.AsyncClient) -> None:
    await client.post("/control/sessions/s3/kill", json={}, headers=bearer("admin-key-789"))
    metrics = await client.get("/metrics", headers=bearer("read-key-123"))
    assert metrics.status_code == 200
    assert "modeltrail_proxy_killed_sessions 1.0" in metrics.text
    assert 'modeltrail_proxy_kill_commands_total{command="kill",source="local"}' in metrics.text
    stats = (await client.get("/control/stats", headers=bearer("read-key-123"))).json()
    assert stats["enforcement"]["killed_sessions"] == 1
    assert stats["emitter"] == {"queued": 1}
