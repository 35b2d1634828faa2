"""Connection settings shared by every service (env `MODELTRAIL_KAFKA__*`, `MODELTRAIL_REDIS__*`).

Each service's own settings class nests these, so one env line configures the
broker for the proxy, the streams worker and the sink alike. `KafkaSettings` is
the one Kafka client configuration: `client_kwargs()` feeds every aiokafka client
(proxy producer and followers, sink, admin, CLI) and `ssl_context()` the faust
credentials of the streams worker, so TLS (CA, client certificate) and SASL
PLAIN/SCRAM work the same everywhere. Inconsistent combinations (a CA file with
PLAINTEXT, SASL credentials without a SASL protocol, ...) are refused when the
settings load instead of silently connecting in the clear.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas import no_autocreate
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
    ssl_cafile: Path | None = Field(
        default=None, description="CA bundle the broker's certificate must chain to"
    )
    ssl_certfile: Path | None = Field(default=None, description="client certificate (mTLS)")
    ssl_keyfile: Path | None = Field(default=None, description="client certificate's key")
    ssl_key_password: SecretStr | None = None
    ssl_check_hostname: bool = Field(
        default=True, description="verify the broker's name against its certificate"
    )
    client_id: str = "modeltrail"

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSettings:
        tls = self.security_protocol in ("SSL", "SASL_SSL")
        sasl = self.security_protocol.startswith("SASL_")
        files = [self.ssl_cafile, self.ssl_certfile, self.ssl_keyfile]
        if not tls and any(f is not None for f in files):
            raise ValueError(
                f"ssl_* files are set but security_protocol is {self.security_protocol}: "
                "use SSL or SASL_SSL"
            )
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ValueError("ssl_keyfile needs ssl_certfile")
        if sasl and not (self.sasl_mechanism and self.sasl_username and self.sasl_password):
            raise ValueError(
                f"{self.security_protocol} needs sasl_mechanism, sasl_username and sasl_password"
            )
        if not sasl and self.sasl_mechanism:
            raise ValueError(
                f"sasl_mechanism is set but security_protocol is {self.security_protocol}: "
                "use SASL_SSL (or SASL_PLAINTEXT on a trusted network)"
            )
        return self

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for SSL / SASL_SSL (None otherwise); raises OSError on bad files."""
        if self.security_protocol not in ("SSL", "SASL_SSL"):
            return None
        ctx = ssl.create_default_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = self.ssl_check_hostname
        if self.ssl_certfile is not None:
            ctx.load_cert_chain(
                str(self.ssl_certfile),
                str(self.ssl_keyfile) if self.ssl_keyfile else None,
                self.ssl_key_password.get_secret_value() if self.ssl_key_password else None,
            )
        return ctx

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    def client_kwargs(self) -> dict[str, object]:
        """Keyword arguments common to every aiokafka client (none ever auto-creates a topic)."""
        no_autocreate.apply()
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
        context = self.ssl_context()
        if context is not None:
            kw["ssl_context"] = context
        return kw


class RedisSettings(BaseSettings):
    """The Redis server used by the `redis` session store."""

    model_config = SettingsConfigDict(env_prefix="MODELTRAIL_REDIS__", extra="forbid")

    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    key_prefix: str = "modeltrail:"
