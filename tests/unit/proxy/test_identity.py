"""Session ids, key fingerprints and trusted-proxy client addresses."""

from __future__ import annotations

import pytest

from proxy.identity import ClientAddress, SessionResolver, api_key_of


def _resolver(idle: float = 60.0) -> SessionResolver:
    return SessionResolver("X-Session-ID", "salt", idle)


def test_header_beats_body_beats_fingerprint() -> None:
    r = _resolver()
    body = {"user": "alice", "metadata": {"user_id": "bob"}}
    assert r.resolve({"x-session-id": "s1"}, body, None, "1.2.3.4", "b") == "s1"
    assert r.resolve({}, body, None, "1.2.3.4", "b") == "alice"
    assert r.resolve({}, {"metadata": {"user_id": "bob"}}, None, "1.2.3.4", "b") == "bob"
    fp = r.resolve({}, {"user": ""}, None, "1.2.3.4", "b")
    assert fp.startswith("fp-")


def test_fingerprint_session_is_stable_within_idle_window_then_renews() -> None:
    r = _resolver(idle=10)
    key = r.key_fingerprint("sk-abc")
    first = r.resolve({}, None, key, "10.0.0.1", "oai", now=100.0)
    assert r.resolve({}, None, key, "10.0.0.1", "oai", now=109.0) == first
    assert r.resolve({}, None, key, "10.0.0.1", "oai", now=118.0) == first  # activity extends
    other_client = r.resolve({}, None, key, "10.0.0.2", "oai", now=118.0)
    other_backend = r.resolve({}, None, key, "10.0.0.1", "claude", now=118.0)
    assert len({first, other_client, other_backend}) == 3
    renewed = r.resolve({}, None, key, "10.0.0.1", "oai", now=200.0)
    assert renewed != first and renewed.startswith(first[:15])


def test_key_fingerprint_is_salted_and_never_the_key() -> None:
    a = SessionResolver("x", "salt-a", 60).key_fingerprint("sk-secret-value")
    b = SessionResolver("x", "salt-b", 60).key_fingerprint("sk-secret-value")
    assert a and b and a != b
    assert "sk-secret" not in a
    assert _resolver().key_fingerprint(None) is None


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"authorization": "Bearer sk-1"}, "sk-1"),
        ({"authorization": "bearer  sk-2"}, "sk-2"),
        ({"x-api-key": "sk-ant"}, "sk-ant"),
        ({"api-key": "azure"}, "azure"),
        ({}, None),
    ],
)
def test_api_key_of(headers: dict[str, str], key: str | None) -> None:
    assert api_key_of(headers) == key


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        ("10.0.0.5", "203.0.113.7", "203.0.113.7"),  # trusted peer: take the client
        ("10.0.0.5", "198.51.100.1, 203.0.113.7, 10.0.0.9", "203.0.113.7"),  # skip trusted hops
        ("198.51.100.9", "203.0.113.7", "198.51.100.9"),  # untrusted peer: XFF is ignored
        ("10.0.0.5", None, "10.0.0.5"),
        ("10.0.0.5", "garbage, 10.0.0.7", "garbage"),
    ],
)
def test_forwarded_for_only_from_trusted_proxies(peer: str, xff: str | None, expected: str) -> None:
    assert ClientAddress(["10.0.0.0/8"]).resolve(peer, xff) == expected


def test_no_trusted_proxies_ignores_forwarded_for() -> None:
    assert ClientAddress([]).resolve("10.0.0.5", "203.0.113.7") == "10.0.0.5"
