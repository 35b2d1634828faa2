"""The vault on a real Redis: replicas share placeholders and revocations; TTL is set."""

from __future__ import annotations

import redis.asyncio as aioredis
from pydantic import SecretStr

from proxy.pii.store import RedisVaultStore
from proxy.pii.vault import REVOKED, KeyRing, SessionVault


async def test_two_replicas_share_one_session_vault(redis_url: str, redis_prefix: str) -> None:
    key = SecretStr(KeyRing.generate())
    stores = [RedisVaultStore(redis_url, key_prefix=redis_prefix, ttl_s=120) for _ in range(2)]
    a, b = (SessionVault(s, KeyRing([key])) for s in stores)
    for s in stores:
        await s.start()
    try:
        pa = await a.issue(await a.load("sess"), "EMAIL", "a@b.example")
        view_b = await b.load("sess")
        assert await b.issue(view_b, "EMAIL", "a@b.example") == pa  # same value, same placeholder
        assert await b.issue(view_b, "EMAIL", "c@d.example") == "\u27e6EMAIL_2\u27e7"
        await b.revoke("sess", "EMAIL_1")
        assert await a.resolve("sess", {pa: ""}) == {pa: REVOKED}
        client = aioredis.Redis.from_url(redis_url)
        raw = await client.hgetall(f"{redis_prefix}pii:sess")
        ttl = await client.ttl(f"{redis_prefix}pii:sess")
        await client.aclose()
        assert 0 < ttl <= 120
        assert not any(b"a@b.example" in k or b"a@b.example" in v for k, v in raw.items())
    finally:
        for s in stores:
            await s.stop()
