"""Start-up refusals for a proxy reachable from the network with unsafe settings.

Checked once at the entry point (`proxy.__main__`) before anything binds:

- a publicly known secret (the compose file's old `change-me-now`, the default
  fingerprint salt, ...) as a control key, the key salt or the Kafka SASL password,
  when the proxy or the control API listens beyond loopback;
- an open relay: the proxy listens beyond loopback, injects a backend API key and
  does not require client keys (`client_auth: none`), so anyone who reaches the port
  spends that key. Refused unless `allow_open_relay`
  says so explicitly (put client authentication in front of it).

On loopback everything is allowed: only local processes reach it, and those can
read the data directory anyway. One exception, also refused on loopback: PII vault
keys that do not fit (`proxy.pii.service.vault_key_problems`: a shared Redis vault
without configured keys; off loopback, a guessable key too).
"""

from __future__ import annotations

from proxy.errors import UnsafeSettings
from proxy.netaddr import is_loopback
from proxy.pii.service import vault_key_problems
from proxy.settings import ProxySettings
from schemas.settings import is_known_default

__all__ = ["check_exposure", "exposure_problems"]


def _public(host: str) -> bool:
    return not is_loopback(host)


def exposure_problems(settings: ProxySettings) -> list[str]:
    """Every reason the settings are unsafe for the addresses they bind (empty: fine)."""
    problems: list[str] = []
    proxy_public, control_public = _public(settings.host), _public(settings.control_host)
    if proxy_public or control_public:
        if is_known_default(settings.key_salt):
            problems.append(
                "MODELTRAIL_PROXY__KEY_SALT is the public default: set a random value "
                "(e.g. `openssl rand -hex 32`)"
            )
        kafka = settings.kafka
        if kafka.sasl_password is not None and is_known_default(kafka.sasl_password):
            problems.append("MODELTRAIL_KAFKA__SASL_PASSWORD is a publicly known default")
    if control_public:
        for key in settings.control_keys:
            if is_known_default(key.key):
                problems.append(
                    f"control key {key.id!r} is a publicly known default: set "
                    "MODELTRAIL_PROXY__CONTROL_KEYS (or MODELTRAIL_CONTROL_KEY in compose)"
                )
    injected = [
        b.name for b in settings.backends if b.api_key is not None and b.api_key.get_secret_value()
    ]
    # With client keys (`client_auth: keys`) every call carries a modeltrail key: not open.
    open_relay = settings.client_auth != "keys"
    if proxy_public and injected and open_relay and not settings.allow_open_relay:
        problems.append(
            f"the proxy listens on {settings.host} and injects the API key of "
            f"backend(s) {', '.join(injected)} with no client authentication: anyone who "
            "reaches the port spends the key. Bind 127.0.0.1, or set "
            "MODELTRAIL_PROXY__ALLOW_OPEN_RELAY=true behind your own authentication"
        )
    problems.extend(vault_key_problems(settings))
    return problems


def check_exposure(settings: ProxySettings) -> None:
    """Raise UnsafeSettings naming every problem when the settings are unsafe."""
    problems = exposure_problems(settings)
    if problems:
        raise UnsafeSettings("refusing to start: " + "; ".join(problems))
