"""A proxy reachable from the network refuses public default secrets and open relays;
any proxy refuses a shared PII vault without keys."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from proxy.errors import UnsafeSettings
from proxy.exposure import check_exposure, exposure_problems
from proxy.pii.errors import VaultKeyError
from proxy.pii.service import PIIService
from proxy.pii.settings import PIISettings
from proxy.settings import BackendConfig, ControlKey, ProxySettings

SALT = SecretStr("9f2c1d7e5b3a4c6d8e0f")
INJECTED = [BackendConfig(name="openai", url="https://api.example", api_key=SecretStr("sk-x"))]


def test_loopback_allows_the_defaults() -> None:
    assert ProxySettings().host == "127.0.0.1"  # secure by default
    check_exposure(ProxySettings(backends=INJECTED))


def test_public_bind_with_the_default_salt_is_refused() -> None:
    with pytest.raises(UnsafeSettings, match="KEY_SALT is the public default"):
        check_exposure(ProxySettings(host="0.0.0.0"))
    check_exposure(ProxySettings(host="0.0.0.0", key_salt=SALT))


@pytest.mark.parametrize("key", ["change-me-now", "CHANGE-ME-NOW", " ", "changeme"])
def test_public_control_api_with_a_default_key_is_refused(key: str) -> None:
    settings = ProxySettings(
        key_salt=SALT,
        control_host="0.0.0.0",
        control_keys=[ControlKey(id="admin", key=SecretStr(key), scopes=["admin"])],
    )
    problems = exposure_problems(settings)
    assert any("control key 'admin'" in p for p in problems), problems


def test_open_relay_is_refused_unless_explicitly_allowed() -> None:
    relay = ProxySettings(host="0.0.0.0", key_salt=SALT, backends=INJECTED, client_auth="none")
    with pytest.raises(UnsafeSettings, match="spends the key"):
        check_exposure(relay)
    check_exposure(relay.model_copy(update={"allow_open_relay": True}))
    # Every call carrying a modeltrail client key (the default): not an open relay.
    check_exposure(relay.model_copy(update={"client_auth": "keys"}))
    # Clients bringing their own provider keys: not a relay of ours.
    check_exposure(ProxySettings(host="0.0.0.0", key_salt=SALT))


def test_the_process_exits_with_the_reason() -> None:
    env = {"MODELTRAIL_PROXY__HOST": "0.0.0.0", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "proxy"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "KEY_SALT is the public default" in done.stderr


GOOD_KEY = SecretStr("JiUkIyIhIB8eHRwbGhkYFxYVFBMSERAPDg0MCwoJCAc=")


def test_shared_vault_without_keys_refuses_to_start_even_on_loopback(tmp_path: Path) -> None:
    """Replicas on one Redis vault with per-process keys could not open each other's
    entries (nor their own after a restart): answers would keep their placeholders."""
    shared = ProxySettings(session_store="redis")
    with pytest.raises(UnsafeSettings, match="PII vault is shared"):
        check_exposure(shared)
    with pytest.raises(VaultKeyError, match="PII vault is shared"):
        PIIService.from_settings(shared)
    explicit = ProxySettings(pii={"vault_store": "redis"})
    assert any("PII vault is shared" in p for p in exposure_problems(explicit))
    # Configured keys, a key file, a memory vault or the transform off: fine.
    check_exposure(ProxySettings(session_store="redis", pii={"keys": [GOOD_KEY]}))
    key_file = tmp_path / "pii-key"
    check_exposure(ProxySettings(session_store="redis", pii={"key_file": key_file}))
    check_exposure(ProxySettings(session_store="redis", pii={"vault_store": "memory"}))
    check_exposure(ProxySettings(session_store="redis", pii={"enabled": False}))
    assert PIIService.from_settings(ProxySettings()).vault.ring.ephemeral  # memory: fine


def test_key_file_is_created_once_and_shared(tmp_path: Path) -> None:
    path = tmp_path / "d" / "pii-key"
    settings = ProxySettings(session_store="redis", pii={"key_file": path})
    a, b = PIIService.from_settings(settings), PIIService.from_settings(settings)
    assert path.stat().st_mode & 0o777 == 0o600
    sealed = a.vault.ring.seal(b"v", b"s")
    assert b.vault.ring.open(sealed, b"s") == b"v"  # both replicas on this machine open it


@pytest.mark.parametrize("key", ["A" * 43, "YWJjZGFiY2RhYmNkYWJjZGFiY2RhYmNkYWJjZGFiY2Q="])
def test_guessable_vault_key_refused_off_loopback(key: str) -> None:
    weak = SecretStr(key)
    check_exposure(ProxySettings(pii={"keys": [weak]}))  # loopback: allowed
    public = ProxySettings(host="0.0.0.0", key_salt=SALT, pii={"keys": [weak]})
    with pytest.raises(UnsafeSettings, match="PII__KEYS key is guessable"):
        check_exposure(public)
    check_exposure(public.model_copy(update={"pii": PIISettings(keys=[GOOD_KEY])}))


def test_the_process_exits_naming_the_missing_vault_key() -> None:
    env = {"MODELTRAIL_PROXY__SESSION_STORE": "redis", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "proxy"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "PII vault is shared (Redis) but has no key" in done.stderr
