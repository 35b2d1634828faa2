"""Budgets and rate limits with shared Redis counters on two real proxy replicas."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from proxy.keys.counters import RedisCounters
from proxy.keys.gate import ClientGate, build_key_book
from proxy.keys.limits import LimitGate
from proxy.settings import ProxySettings
from tests.support.identity_harness import issue, replica

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}


async def test_rate_limit_across_two_replicas(
    replica_settings: Callable[..., ProxySettings],
) -> None:
    mk = replica_settings
    limit = 60
    async with replica(mk("a")) as a, replica(mk("b")) as b, httpx.AsyncClient(timeout=10) as http:
        key_id, key = await issue(a.control, team="rl", rpm=limit)
        await b.wait_for_key(key_id)
        # Stay inside one calendar minute: start a fresh one if this one is nearly over.
        left = 60 - time.time() % 60
        if left < 8:
            await asyncio.sleep(left + 0.05)

        async def one(i: int) -> int:
            url = (a if i % 2 else b).url
            r = await http.post(f"{url}/v1/chat/completions", json=CHAT, headers={"x-api-key": key})
            return r.status_code

        codes = await asyncio.gather(*(one(i) for i in range(2 * limit)))
        admitted = codes.count(200)
        print(f"rpm={limit} replicas=2 sent={2 * limit} admitted={admitted}")
        assert abs(admitted - limit) <= limit * 0.05, codes
        assert codes.count(429) == 2 * limit - admitted
        r = await http.post(f"{a.url}/v1/chat/completions", json=CHAT, headers={"x-api-key": key})
        assert r.status_code == 429
        body = r.json()["error"]
        assert body["type"] == "rate_limit_error" and body["limit"] == "rpm"
        assert 1 <= int(r.headers["retry-after"]) <= 60


async def test_budget_429_until_the_period_resets(
    replica_settings: Callable[..., ProxySettings], redis_url: str, redis_prefix: str
) -> None:
    # Both replicas read one clock the test moves forward: a day passes in a line.
    now = [datetime(2026, 3, 10, 23, 59, 0, tzinfo=UTC)]

    def gate_for(name: str) -> tuple[ClientGate, ProxySettings]:
        settings = replica_settings(name)
        counters = RedisCounters(redis_url, f"{redis_prefix}lim:")
        limits = LimitGate(counters, clock=lambda: now[0])
        return ClientGate(settings, build_key_book(settings), limits=limits), settings

    gate_a, settings_a = gate_for("a")
    gate_b, settings_b = gate_for("b")
    async with (
        replica(settings_a, gate_a) as a,
        replica(settings_b, gate_b) as b,
        httpx.AsyncClient(timeout=10) as http,
    ):
        key_id, key = await issue(a.control, team="spend", budget_usd_day=0.00001)
        await b.wait_for_key(key_id)
        headers = {"authorization": f"Bearer {key}"}
        spent = 0
        for _ in range(50):  # gpt-4o-mini costs ~1e-6 USD per answer of the fake
            r = await http.post(f"{a.url}/v1/chat/completions", json=CHAT, headers=headers)
            if r.status_code == 429:
                break
            assert r.status_code == 200
            spent += 1
        assert 0 < spent < 50
        # The other replica sees the same spend: refused too, with the day's end as reset.
        r = await http.post(f"{b.url}/v1/chat/completions", json=CHAT, headers=headers)
        assert r.status_code == 429
        err = r.json()["error"]
        assert err["limit"] == "budget_usd_day" and err["reset_at"] == "2026-03-11T00:00:00+00:00"
        assert r.headers["retry-after"] == "60"
        # Anthropic clients get their own shape.
        msg = {"model": "gpt-4o-mini", "max_tokens": 5, "messages": []}
        r = await http.post(f"{b.url}/v1/messages", json=msg, headers=headers)
        assert r.status_code == 429 and r.json()["error"]["type"] == "rate_limit_error"
        now[0] += timedelta(minutes=1)  # the next day: a fresh budget
        r = await http.post(f"{b.url}/v1/chat/completions", json=CHAT, headers=headers)
        assert r.status_code == 200
