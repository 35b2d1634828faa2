"""PII transform settings: `MODELTRAIL_PROXY__PII__*`, nested in `ProxySettings.pii`.

Actions per entity type, per backend: `tokenize` (a session-consistent
placeholder, restored in the answer), `mask` (irreversible `[CARD]`), `block`
(403 naming the type) or `allow`. The default is `tokenize` for remote backends
and `allow` for an Ollama backend on a loopback address (the data stays on the
machine). A policy YAML file (`policy_file`) may set the same fields; settings
win where both set a value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["BackendPII", "EntityAction", "PIIRules", "PIISettings"]

EntityAction = Literal["tokenize", "mask", "block", "allow"]


class BackendPII(BaseModel):
    """Actions for one backend: its default and per-entity-type overrides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: EntityAction | None = None
    entities: dict[str, EntityAction] = Field(default_factory=dict)


class PIIRules(BaseModel):
    """What the settings and the policy YAML file both may say."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: EntityAction | None = Field(default=None, description="remote backends")
    local_default: EntityAction | None = Field(default=None, description="loopback Ollama")
    entities: dict[str, EntityAction] = Field(default_factory=dict, description="every backend")
    backends: dict[str, BackendPII] = Field(default_factory=dict)
    custom_entities: dict[str, list[str]] = Field(
        default_factory=dict, description="entity type -> RE2 patterns, e.g. EMPLOYEE_ID"
    )


class PIISettings(PIIRules):
    """The PII transform of one proxy."""

    enabled: bool = True
    policy_file: Path | None = Field(default=None, description="YAML with the PIIRules fields")
    keys: list[SecretStr] = Field(
        default_factory=list,
        description="AES-256 keys, URL-safe base64 of 32 bytes; the first seals, all open. "
        "None set: `key_file`, else a random per-process key, which only the memory store "
        "accepts (a shared Redis vault refuses to start without keys)",
    )
    key_file: Path | None = Field(
        default=None,
        description="used when keys is unset: read, or created (0600) on first start; one "
        "machine's key (`modeltrail up`), not for replicas on several machines",
    )
    vault_ttl_s: float = Field(default=86400.0, gt=0, description="idle vault lifetime")
    vault_max_entries: int = Field(
        default=10_000, ge=1, description="values one session may hold; beyond, values are masked"
    )
    vault_store: Literal["memory", "redis"] | None = Field(
        default=None, description="default: the proxy's session_store"
    )
    on_vault_down: Literal["fail_closed", "mask"] = Field(
        default="fail_closed",
        description="vault store unreachable: 503, or mask irreversibly and forward",
    )
    capture: Literal["transformed", "raw"] = Field(
        default="transformed", description="text the audit events carry"
    )
