"""A proxy reachable from the network refuses public default secrets and open relays."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import SecretStr

from proxy.errors import UnsafeSettings
from proxy.exposure import check_exposure, exposure_problems
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
