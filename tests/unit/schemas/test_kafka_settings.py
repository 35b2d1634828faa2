"""One Kafka client configuration: TLS and SASL built the same for every service."""

from __future__ import annotations

import ssl
from pathlib import Path

import faust
import pytest
from pydantic import SecretStr, ValidationError

from schemas.settings import KafkaSettings
from streams.app import _credentials
from streams.settings import StreamsSettings

CA = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")


def test_plaintext_has_no_tls_nor_sasl() -> None:
    kw = KafkaSettings().client_kwargs()
    assert kw["security_protocol"] == "PLAINTEXT"
    assert "ssl_context" not in kw and "sasl_mechanism" not in kw
    assert _credentials(StreamsSettings()) is None


def test_tls_builds_one_verified_context_for_every_client() -> None:
    kafka = KafkaSettings(security_protocol="SSL", ssl_cafile=CA)
    ctx = kafka.client_kwargs()["ssl_context"]
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    creds = _credentials(StreamsSettings(kafka=kafka))
    assert isinstance(creds, faust.SSLCredentials)
    assert creds.context.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_over_tls(mechanism: str) -> None:
    kafka = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism=mechanism,  # type: ignore[arg-type]
        sasl_username="svc",
        sasl_password=SecretStr("s3cret-value"),
    )
    kw = kafka.client_kwargs()
    assert kw["sasl_mechanism"] == mechanism and kw["sasl_plain_username"] == "svc"
    assert kw["sasl_plain_password"] == "s3cret-value"
    assert isinstance(kw["ssl_context"], ssl.SSLContext)
    creds = _credentials(StreamsSettings(kafka=kafka))
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.mechanism.value == mechanism and creds.ssl_context is not None
    assert creds.protocol.value == "SASL_SSL"
    assert "s3cret-value" not in repr(kafka)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"ssl_cafile": CA}, "security_protocol is PLAINTEXT"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN"}, "needs sasl_mechanism"),
        ({"sasl_mechanism": "PLAIN", "sasl_username": "u", "sasl_password": "p"}, "use SASL_SSL"),
        ({"security_protocol": "SSL", "ssl_keyfile": CA}, "needs ssl_certfile"),
    ],
)
def test_inconsistent_settings_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        KafkaSettings.model_validate(values)


def test_a_missing_certificate_file_fails_at_start() -> None:
    kafka = KafkaSettings(security_protocol="SSL", ssl_certfile=Path("/nonexistent/client.pem"))
    with pytest.raises(OSError):
        kafka.client_kwargs()
