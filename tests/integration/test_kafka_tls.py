"""One Kafka client configuration over TLS with a client certificate, against the real broker.

Tansu 0.6 serves plaintext only (its `--cert` is accepted and ignored) and its
SASL cannot be exercised on memory storage (with `--authentication` on, the
`user create` command cannot authenticate itself), so the broker sits behind a
TLS terminator that requires a client certificate; SASL is covered by the unit
tests of the configuration (tests/unit/schemas/test_kafka_settings.py).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from modeltrail.embedded.process import free_port
from modeltrail.embedded.servers import tansu_broker
from proxy.broker_link import BrokerLink
from schemas.kafka import ensure_topics
from schemas.settings import KafkaSettings
from tests.support.tls_terminator import Pki, TlsTerminator, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def tls_bootstrap(pki: Pki, logs_dir: Path) -> AsyncIterator[tuple[str, TlsTerminator]]:
    plain, tls = free_port(), free_port()
    broker = tansu_broker(plain, logs_dir / "broker-tls.log", advertised_port=tls).start()
    terminator = TlsTerminator(pki, tls, ("127.0.0.1", plain))
    await terminator.start()
    try:
        yield f"127.0.0.1:{tls}", terminator
    finally:
        await terminator.stop()
        broker.stop()


def tls_settings(bootstrap: str, pki: Pki, **overrides: object) -> KafkaSettings:
    values: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "security_protocol": "SSL",
        "ssl_cafile": pki.ca,
        "ssl_certfile": pki.client_cert,
        "ssl_keyfile": pki.client_key,
        "topic_prefix": f"tls{uuid.uuid4().hex[:8]}.",
    }
    return KafkaSettings.model_validate(values | overrides)


async def test_producer_and_consumer_roundtrip_over_mutual_tls(
    tls_bootstrap: tuple[str, TlsTerminator], pki: Pki
) -> None:
    bootstrap, terminator = tls_bootstrap
    kafka = tls_settings(bootstrap, pki)
    await ensure_topics(kafka)  # over TLS too; no client of ours creates a topic by naming it
    topic = kafka.topics.requests
    producer = AIOKafkaProducer(acks="all", **kafka.client_kwargs())  # type: ignore[arg-type]
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"over-tls", key=b"s1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        auto_offset_reset="earliest",
        **kafka.client_kwargs(),  # type: ignore[arg-type]
    )
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert record.value == b"over-tls"
    assert terminator.handshakes >= 2


async def test_the_proxy_broker_link_connects_over_tls(
    tls_bootstrap: tuple[str, TlsTerminator], pki: Pki
) -> None:
    bootstrap, terminator = tls_bootstrap
    link = BrokerLink(tls_settings(bootstrap, pki), linger_ms=0, timeout_ms=10_000)
    try:
        assert await link.connect()  # producer plus topic creation (admin client)
    finally:
        await link.close()
    assert terminator.handshakes >= 2


@pytest.mark.parametrize(
    "missing",
    [
        {"ssl_certfile": None, "ssl_keyfile": None},  # no client certificate
        {"ssl_cafile": None},  # the test CA is not trusted
    ],
)
async def test_without_the_right_credentials_nothing_connects(
    tls_bootstrap: tuple[str, TlsTerminator], pki: Pki, missing: dict[str, object]
) -> None:
    bootstrap, _ = tls_bootstrap
    kafka = tls_settings(bootstrap, pki, **missing)
    producer = AIOKafkaProducer(request_timeout_ms=3000, **kafka.client_kwargs())  # type: ignore[arg-type]
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()
