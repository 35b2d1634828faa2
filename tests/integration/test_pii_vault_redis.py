"""The vault on a real Redis: replicas share placeholders and revocations; TTL is set."""

from __future__ import annotations

from pathlib import Path

import httpx
import redis.asyncio as aioredis
from pydantic import SecretStr

from proxy.pii.store import RedisVaultStore
from proxy.pii.vault import REVOKED, KeyRing, SessionVault
from schemas.settings import KafkaSettings, RedisSettings
from tests.conftest import unique
from tests.support.pii_cases import VALUES, pii_settings, received
from tests.support.proxy_fakes import ListPublisher
from tests.support.proxy_harness import running_proxy


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
        assert await a.resolve("sess", {pa: "a@b.example"}) == {pa: REVOKED}
        client = aioredis.Redis.from_url(redis_url)
        raw = await client.hgetall(f"{redis_prefix}pii:sess")
        ttl = await client.ttl(f"{redis_prefix}pii:sess")
        await client.aclose()
        assert 0 < ttl <= 120
        assert not any(b"a@b.example" in k or b"a@b.example" in v for k, v in raw.items())
    finally:
        for s in stores:
            await s.stop()


async def test_replicas_with_the_configured_key_share_placeholders_through_the_proxy(
    redis_url: str, redis_prefix: str, fake_backend_url: str, tmp_path: Path
) -> None:
    """A session's second turn lands on another replica: same placeholder, answer restored."""
    marker = unique("pii-replicas")
    shared = {
        "session_store": "redis",
        "redis": RedisSettings(url=SecretStr(redis_url), key_prefix=redis_prefix),
        "keys": [SecretStr(KeyRing.generate())],
    }
    a = pii_settings(KafkaSettings(), fake_backend_url, tmp_path / "a", **shared)
    b = pii_settings(KafkaSettings(), fake_backend_url, tmp_path / "b", **shared)
    headers = {"x-session-id": marker}
    email = VALUES["EMAIL"]
    async with (
        running_proxy(a, publisher=ListPublisher()) as pa,
        running_proxy(b, publisher=ListPublisher()) as pb,
        httpx.AsyncClient() as c,
    ):
        for proxy, text in ((pa, f"{marker} c@d.example then {email}"), (pb, f"{marker} {email}")):
            body = {"model": "gpt-4o",
                    "messages": [{"role": "user", "content": f"{text} fake-reply:to {email}"}]}  # fmt: skip
            resp = await c.post(proxy.url + "/v1/chat/completions", json=body, headers=headers)
            assert resp.status_code == 200, resp.text
            assert resp.json()["choices"][0]["message"]["content"] == f"to {email}"
        first, second = await received(c, fake_backend_url, marker)
    assert email not in first + second
    assert "\u27e6EMAIL_2\u27e7" in first and "\u27e6EMAIL_2\u27e7" in second  # B opened A's entry
