"""Shared by the PII integration tests: the values, the reply that repeats them, the
settings that tokenize on every backend, and what the fake backend received. Not a
test module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from proxy.settings import ProxySettings
from schemas.settings import KafkaSettings
from tests.support.proxy_harness import make_settings

__all__ = ["REPLY", "VALUES", "pii_settings", "received"]

VALUES = {
    "EMAIL": "jane.doe@example.org",
    "PHONE": "+44 20 7946 0958",
    "CARD": "4539 1488 0343 6467",
    "IBAN": "GB82WEST12345698765432",
    "SSN": "078-05-1121",
    "IP": "10.20.30.40",
    "API_KEY": "AKIAIOSFODNN7QWERTY1",
}
REPLY = (
    f"Dear {VALUES['EMAIL']}, we will call {VALUES['PHONE']} about card {VALUES['CARD']} "
    f"(IBAN {VALUES['IBAN']}, SSN {VALUES['SSN']}) from {VALUES['IP']} with key "
    f"{VALUES['API_KEY']}; again: {VALUES['EMAIL']}."
)


def pii_settings(kafka: KafkaSettings, url: str, tmp: Path, **pii: Any) -> ProxySettings:
    """Proxy settings that tokenize on every backend (`pii` adds PII settings; `control_keys`,
    `passthrough`, `session_store` and `redis` go to the proxy)."""
    # The fake's Ollama listens on loopback, where the default is `allow`: tokenize it here.
    # The inline policy judges the raw request and blocks secrets (standard preset) before
    # any transform matters; off here, so secrets show their `tokenize` action.
    extra: dict[str, Any] = {"inline_policy": False}
    proxy_fields = ("control_keys", "passthrough", "session_store", "redis")
    extra.update({k: pii.pop(k) for k in list(pii) if k in proxy_fields})
    rules = {"backends": {"ollama": {"default": "tokenize"}}, **pii}
    return make_settings(kafka, url, tmp / "spool", pii=rules, **extra)


async def received(client: httpx.AsyncClient, url: str, marker: str) -> list[str]:
    """The bodies the fake backend received that carry `marker`."""
    bodies = (await client.get(f"{url}/_fake/received")).json()["bodies"]
    return [b for b in bodies if marker in b]
