"""Connection settings shared by every service (env `MODELTRAIL_KAFKA__*`, `MODELTRAIL_REDIS__*`).

Each service's own settings class nests these, so one env line configures the
broker for the proxy, the streams worker and the sink alike.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.topics import Topics

__all__ = ["KNOWN_DEFAULT_SECRETS", "KafkaSettings", "RedisSettings", "is_known_default"]

#: Secrets printed in our own docs, compose file and defaults (and the classics):
#: anyone can read them, so a service reachable from the network refuses them.
KNOWN_DEFAULT_SECRETS = frozenset(
    {
        "change-me-now",
        "modeltrail-default-salt",
        "modeltrail-secret",
        "changeme",
        "change-me",
        "secret",
        "password",
        "admin",
    }
)


def is_known_default(secret: SecretStr | str | None) -> bool:
    """Whether `secret` is empty or one of the publicly known defaults."""
    if secret is None:
        return False
    value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return not value.strip() or value.strip().lower() in KNOWN_DEFAULT_SECRETS


class KafkaSettings(BaseSettings):
    """Where the broker is and how topics are named."""

    model_config = SettingsConfigDict(env_prefix="MODELTRAIL_KAFKA__", extra="forbid")

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    partitions: int = Field(default=3, ge=1, description="partitions for topics modeltrail creates")
    replication_factor: int = Field(default=1, ge=1)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    client_id: str = "modeltrail"

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    def client_kwargs(self) -> dict[str, object]:
        """Keyword arguments common to every aiokafka client."""
        kw: dict[str, object] = {
            "bootstrap_servers": self.bootstrap_servers,
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            kw["sasl_mechanism"] = self.sasl_mechanism
            kw["sasl_plain_username"] = self.sasl_username
            kw["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        return kw


class RedisSettings(BaseSettings):
    """The Redis server used by the `redis` session store."""

    model_config = SettingsConfigDict(env_prefix="MODELTRAIL_REDIS__", extra="forbid")

    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    key_prefix: str = "modeltrail:"
