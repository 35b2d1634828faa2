"""Alerts service settings: env `MODELTRAIL_ALERTS__*` plus the shared `MODELTRAIL_KAFKA__*`.

Webhooks are a JSON list, e.g.::

    MODELTRAIL_ALERTS__WEBHOOKS='[{"name": "soc", "url": "https://siem.example/hook",
      "format": "ocsf", "secret": "...", "min_severity": "high"}]'
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.events import Severity
from schemas.settings import KafkaSettings

__all__ = ["AlertsSettings", "WebhookFormat", "WebhookSpec"]

WebhookFormat = Literal["json", "ocsf", "slack"]


class WebhookSpec(BaseModel):
    """One destination: where, in which form, for which events."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    url: str = Field(pattern=r"^https?://")
    format: WebhookFormat = "json"
    secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key of the X-Modeltrail-Signature header"
    )
    # --- filters: an empty list matches everything ---
    min_severity: Severity = "warning"
    owasp: list[str] = Field(default_factory=list, description="e.g. ['LLM01', 'LLM07']")
    rules: list[str] = Field(default_factory=list, description="rule ids or prefixes ending in *")
    teams: list[str] = Field(default_factory=list)
    commands: bool = Field(default=True, description="also deliver kill/resume commands")
    # --- delivery ---
    timeout_s: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20)
    backoff_s: float = Field(default=0.5, gt=0, description="first retry delay; doubles")
    max_backoff_s: float = Field(default=30.0, gt=0)
    queue_size: int = Field(default=1000, ge=1, description="events waiting for this webhook")


class AlertsSettings(BaseSettings):
    """Everything one alerts service needs."""

    model_config = SettingsConfigDict(
        env_prefix="MODELTRAIL_ALERTS__", env_nested_delimiter="__", extra="forbid"
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    group_id: str = "modeltrail-alerts"
    instance_id: str = "alerts-1"
    webhooks: list[WebhookSpec] = Field(default_factory=list)
    throttle_s: float = Field(
        default=60.0,
        ge=0,
        description="per webhook and session: at most one violation alert per window "
        "(kill/resume commands are never throttled)",
    )
    throttle_sessions: int = Field(default=100_000, ge=1, description="sessions remembered")
    allow_hosts: list[str] = Field(
        default_factory=list,
        description="hosts or CIDRs a webhook may resolve to although private, loopback or "
        "link-local (e.g. '127.0.0.1' for a local receiver); metadata addresses are refused "
        "unless listed explicitly",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "json"
