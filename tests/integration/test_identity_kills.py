"""Kills by key and team on two replicas sharing the real broker and Redis: no session id,
no replica and no stream in flight escapes, and a replica started later refuses too."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable

import httpx
import orjson
import pytest

from proxy.settings import ProxySettings
from schemas.codec import encode
from schemas.events import LLMRequest, LLMResponse, SessionCommand
from schemas.settings import KafkaSettings
from tests.support.identity_harness import issue, raw_records, replica, until
from tests.support.proxy_harness import collect

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}


def _auth(key: str, session: str | None = None) -> dict[str, str]:
    headers = {"authorization": f"Bearer {key}"}
    if session is not None:
        headers["x-session-id"] = session
    return headers


async def test_killed_key_cannot_continue_anywhere(
    kafka_settings: KafkaSettings,
    replica_settings: Callable[..., ProxySettings],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    mk = replica_settings
    async with replica(mk("a")) as a, replica(mk("b")) as b, httpx.AsyncClient(timeout=10) as http:
        key_id, key = await issue(a.control, team="blue", user="bo")
        await b.wait_for_key(key_id)
        other_id, other = await issue(a.control, team="blue")
        await b.wait_for_key(other_id)
        ok = await http.post(f"{b.url}/v1/chat/completions", json=CHAT, headers=_auth(key, "s1"))
        assert ok.status_code == 200, ok.text

        # A stream in flight on replica b, killed through replica a's control API.
        body = {**CHAT, "stream": True}
        headers = {**_auth(key, "s1"), "X-Fake-Chunks": "60", "X-Fake-Chunk-Delay-Ms": "50"}
        received, start, killed_at = b"", time.perf_counter(), 0.0
        async with http.stream(
            "POST", f"{b.url}/v1/chat/completions", json=body, headers=headers
        ) as stream:
            assert stream.status_code == 200
            async for chunk in stream.aiter_bytes():
                received += chunk
                if not killed_at and b"data:" in received:
                    r = await a.control.post(
                        f"/control/scopes/key/{key_id}/kill",
                        json={"reason": "stolen key", "mode": "permanent"},
                    )
                    assert r.status_code == 200, r.text
                    killed_at = time.perf_counter()
        assert killed_at and time.perf_counter() - start < 1.5, "stream not cut"
        assert b"[DONE]" not in received and b"stolen key" in received

        # Any session id, or none, on either replica: refused. Another key of the team: fine.
        for replica_ in (a, b):
            for session in ("s1", "fresh", "mk_0123456789abcdef:s1", None):
                r = await http.post(
                    f"{replica_.url}/v1/chat/completions", json=CHAT, headers=_auth(key, session)
                )
                assert r.status_code == 403 and "stolen key" in r.text, (replica_.url, session)
            r = await http.post(
                f"{replica_.url}/v1/chat/completions", json=CHAT, headers=_auth(other)
            )
            assert r.status_code == 200

    # A replica started after the kill refuses the key from its first request.
    async with replica(mk("c")) as c, httpx.AsyncClient(timeout=10) as http:
        r = await http.post(f"{c.url}/v1/chat/completions", json=CHAT, headers=_auth(key, "new"))
        assert r.status_code == 403
        resumed = await c.control.post(f"/control/scopes/key/{key_id}/resume", json={})
        assert resumed.status_code == 200
        r = await http.post(f"{c.url}/v1/chat/completions", json=CHAT, headers=_auth(key, "new"))
        assert r.status_code == 200

    # Identity on the events and commands; the key itself nowhere on Kafka.
    topics = kafka_settings.topics
    events = await collect(
        kafka_settings,
        [topics.requests, topics.responses, topics.commands],
        lambda evs: sum(isinstance(e, SessionCommand) for e in evs) >= 2,
    )
    reqs = [e for e in events if isinstance(e, LLMRequest) and e.key_id == key_id]
    assert reqs and all(e.team == "blue" and e.user == "bo" for e in reqs)
    assert all(e.session_id.startswith(f"{key_id}:") for e in reqs)
    cut = [e for e in events if isinstance(e, LLMResponse) and e.outcome == "killed"]
    assert cut and all(e.key_id == key_id for e in cut)
    kill = next(e for e in events if isinstance(e, SessionCommand) and e.command == "kill")
    assert (kill.scope, kill.subject, kill.team, kill.user) == ("key", key_id, "blue", "bo")
    blob = b"".join(encode(e) for e in events)
    blob += b"".join(await raw_records(kafka_settings, topics.keys))
    assert key_id.encode() in blob
    assert key.encode() not in blob and other.encode() not in blob
    assert key_id in caplog.text and key not in caplog.text and other not in caplog.text


async def test_team_kill_stops_every_key_of_the_team(
    kafka_settings: KafkaSettings,
    replica_settings: Callable[..., ProxySettings],
) -> None:
    mk = replica_settings
    team = f"t{uuid.uuid4().hex[:6]}"
    async with replica(mk("a")) as a, replica(mk("b")) as b, httpx.AsyncClient(timeout=10) as http:
        keys = [await issue(a.control, team=team, user=f"u{i}") for i in range(2)]
        _, outsider = await issue(a.control, team="other")
        for key_id, _ in keys:
            await b.wait_for_key(key_id)
        r = await a.control.post(f"/control/scopes/team/{team}/kill", json={"reason": "team off"})
        assert r.status_code == 200
        await until(lambda: b.enforcement.check(f"team:{team}") is not None)
        for rep in (a, b):
            for _, key in keys:
                r = await http.post(f"{rep.url}/v1/chat/completions", json=CHAT, headers=_auth(key))
                assert r.status_code == 403 and "team off" in r.text
            r = await http.post(
                f"{rep.url}/v1/chat/completions", json=CHAT, headers=_auth(outsider)
            )
            assert r.status_code == 200
        await a.control.post(f"/control/scopes/team/{team}/resume", json={})
        await until(lambda: b.enforcement.check(f"team:{team}") is None)
        r = await http.post(f"{b.url}/v1/chat/completions", json=CHAT, headers=_auth(keys[0][1]))
        assert r.status_code == 200


async def test_disabled_and_rotated_keys_on_a_replica_started_later(
    kafka_settings: KafkaSettings,
    replica_settings: Callable[..., ProxySettings],
) -> None:
    mk = replica_settings
    async with replica(mk("a")) as a:
        gone_id, gone = await issue(a.control, team="x")
        rot_id, old = await issue(a.control, team="x")
        assert (
            await a.control.post(f"/control/keys/{gone_id}/disable", json={})
        ).status_code == 200
        rotated = await a.control.post(f"/control/keys/{rot_id}/rotate", json={})
        new = rotated.json()["key"]
        listed = (await a.control.get("/control/keys")).json()
        assert {k["key_id"] for k in listed["keys"]} == {gone_id, rot_id}
        assert "key_hash" not in orjson.dumps(listed).decode()
    async with replica(mk("b")) as b, httpx.AsyncClient(timeout=10) as http:
        for key, code in ((gone, 401), (old, 401), (new, 200)):
            r = await http.post(f"{b.url}/v1/chat/completions", json=CHAT, headers=_auth(key))
            assert r.status_code == code, (code, r.text)
        await asyncio.sleep(0)
