"""Fixtures shared by the integration tests (the servers themselves are in tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from proxy.settings import ProxySettings
from schemas.settings import KafkaSettings


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A unique Redis key prefix; every key under it is deleted after the test."""
    prefix = f"test:{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = aioredis.Redis.from_url(redis_url)
    keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def replica_settings(
    kafka_settings: KafkaSettings,
    fake_backend_url: str,
    tmp_path: Path,
    redis_url: str,
    redis_prefix: str,
) -> Callable[..., ProxySettings]:
    """`replica_settings(name, **overrides)`: proxy replicas with client keys on, sharing
    this test's topics, Redis prefix and key secret."""
    from tests.support.identity_harness import settings_for_replica

    def make(name: str, **overrides: object) -> ProxySettings:
        return settings_for_replica(
            kafka_settings, fake_backend_url, tmp_path, name, redis_url, redis_prefix, **overrides
        )

    return make
