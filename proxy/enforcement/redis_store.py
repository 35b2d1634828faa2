"""`RedisSessionStore`: sessions, counters and kill state shared by several proxies.

Layout under the configured key prefix P::

    P session:<id>       hash   counters, first/last seen, backend, model, flags (TTL)
    P sessions           zset   id -> last seen (listing, idle trimming)
    P flagged            zset   id -> time of the latest violation
    P violations:<id>    set    violation event ids already counted (TTL)
    P kills              hash   id -> latest kill (SessionCommand JSON); resumed and
                                expired kills are removed
    P kills:order        hash   id -> sortable (time, event_id) of the latest command,
                                kept after a resume so an older kill stays refused
    P commands           pub/sub channel: a mirrored command, for the other replicas

Guarantees: counters are atomic (HINCRBY); a violation counts once per event id
and a command replaces only an older one (both in Lua, so atomic); a command
saved by one replica reaches every other replica through pub/sub within
milliseconds, before Kafka delivers it, and survives in `kills` for replicas
that start later. `kills` holds only kills: a resume deletes the session's entry
(its order stays, a tombstone), and `commands()` drops the kills that expired and
the tombstones older than the session TTL, each only if no newer command replaced
it meanwhile (compare-and-delete in Lua).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from proxy.enforcement.errors import SessionStoreError
from proxy.enforcement.session_store import (
    COUNTER_FIELDS,
    LABEL_FIELDS,
    CommandCallback,
    Observation,
    SessionInfo,
    command_order,
    response_total_tokens,
    session_info,
)
from proxy.redis_client import connect
from proxy.tasks import cancel_and_wait
from schemas.codec import decode_as, encode
from schemas.errors import DecodeError
from schemas.events import LLMRequest, SessionCommand, Violation, utcnow

__all__ = ["RedisSessionStore"]

log = logging.getLogger(__name__)

_FLAG = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('HINCRBY', KEYS[2], 'violations', 1)
redis.call('HSET', KEYS[2], 'flagged', '1', 'last_rule_id', ARGV[3], 'last_severity', ARGV[4])
redis.call('HSETNX', KEYS[2], 'first_seen', ARGV[5])
redis.call('HSETNX', KEYS[2], 'last_seen', ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
redis.call('ZADD', KEYS[4], 'NX', ARGV[5], ARGV[6])
return 1
"""

_SAVE_COMMAND = """
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if cur and cur >= ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if ARGV[5] == 'kill' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', ARGV[4], ARGV[3])
return 1
"""

# ARGV: id1, value1, id2, value2...: delete KEYS[1][id] if it still holds value and,
# when KEYS[2] is given, only if KEYS[2] holds no entry for id.
_PRUNE = """
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1]
      and (KEYS[2] == nil or redis.call('HEXISTS', KEYS[2], ARGV[i]) == 0) then
    redis.call('HDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
"""


def _epoch(value: str | None) -> float | None:
    return None if value is None else float(value)


class RedisSessionStore:
    """Sessions and kill state in Redis (redis.asyncio); see the module docstring."""

    def __init__(self, url: str, *, key_prefix: str = "modeltrail:", ttl_s: float = 604800.0):
        self._url = url
        self._p = key_prefix
        self._ttl = max(1, int(ttl_s))
        self._redis: Redis | None = None
        self._listener: asyncio.Task[None] | None = None
        self._flag_script = None  # registered in start()
        self._save_script = None
        self._prune_script = None

    @property
    def channel(self) -> str:
        return f"{self._p}commands"

    def _key(self, name: str) -> str:
        return f"{self._p}{name}"

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            raise SessionStoreError("RedisSessionStore is not started")
        return self._redis

    async def start(self, on_command: CommandCallback | None = None) -> None:
        if self._redis is not None:
            return
        client = connect(self._url, decode_responses=True)
        try:
            await client.ping()
        except RedisError as exc:
            await client.aclose()
            raise SessionStoreError(f"Redis is not reachable: {exc}") from exc
        self._redis = client
        self._flag_script = client.register_script(_FLAG)  # type: ignore[assignment]
        self._save_script = client.register_script(_SAVE_COMMAND)  # type: ignore[assignment]
        self._prune_script = client.register_script(_PRUNE)  # type: ignore[assignment]
        if on_command is not None:
            ready = asyncio.Event()
            self._listener = asyncio.create_task(self._listen(on_command, ready))
            await asyncio.wait_for(ready.wait(), timeout=10)

    async def stop(self) -> None:
        task, self._listener = self._listener, None
        await cancel_and_wait(task)
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose()

    async def _listen(self, on_command: CommandCallback, ready: asyncio.Event) -> None:
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                ready.set()
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        on_command(decode_as(SessionCommand, message["data"]))
                    except DecodeError as exc:
                        log.warning("mirrored_command_undecodable", extra={"error": str(exc)})
            except RedisError as exc:
                log.warning("redis_subscribe_failed", extra={"error": str(exc)})
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(RedisError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def record(self, events: Sequence[Observation]) -> None:
        if not events:
            return
        pipe = self.redis.pipeline(transaction=False)
        sessions = self._key("sessions")
        latest: dict[str, float] = {}
        for e in events:
            key = self._key(f"session:{e.session_id}")
            ts = e.time.timestamp()
            fields: dict[str, str | float] = {"last_seen": ts, "backend": e.backend}
            if e.model:
                fields["model"] = e.model
            pipe.hsetnx(key, "first_seen", ts)
            if isinstance(e, LLMRequest):
                if e.client_ip:
                    fields["client_ip"] = e.client_ip
                if e.api_key_fingerprint:
                    fields["api_key_fingerprint"] = e.api_key_fingerprint
                pipe.hincrby(key, "requests", 1)
            else:
                pipe.hincrby(key, "responses", 1)
                if e.status_code >= 400 or e.outcome != "ok":
                    pipe.hincrby(key, "errors", 1)
                for name, value in (
                    ("input_tokens", e.input_tokens),
                    ("output_tokens", e.output_tokens),
                    ("total_tokens", response_total_tokens(e)),
                ):
                    if value:
                        pipe.hincrby(key, name, value)
            pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
            pipe.expire(key, self._ttl)
            latest[e.session_id] = max(ts, latest.get(e.session_id, 0.0))
        pipe.zadd(sessions, latest, gt=True)  # type: ignore[arg-type]
        pipe.zremrangebyscore(sessions, "-inf", max(latest.values()) - self._ttl)
        await self._run(pipe.execute())

    async def flag(self, violation: Violation) -> bool:
        sid = violation.session_id
        keys = [
            self._key(f"violations:{sid}"),
            self._key(f"session:{sid}"),
            self._key("flagged"),
            self._key("sessions"),
        ]
        args = [
            violation.event_id,
            self._ttl,
            violation.rule_id,
            violation.severity,
            violation.time.timestamp(),
            sid,
        ]
        assert self._flag_script is not None
        return bool(await self._run(self._flag_script(keys=keys, args=args)))

    async def save_command(self, cmd: SessionCommand) -> bool:
        keys = [self._key("kills"), self._key("kills:order")]
        args = [
            cmd.session_id,
            command_order(cmd),
            encode(cmd).decode(),
            self.channel,
            cmd.command,
        ]
        assert self._save_script is not None
        return bool(await self._run(self._save_script(keys=keys, args=args)))

    async def commands(self, now: datetime | None = None) -> list[SessionCommand]:
        """The kills still in force at `now`; expired ones and old tombstones are pruned."""
        now = now or utcnow()
        kills, order = self._key("kills"), self._key("kills:order")
        raw = cast(dict[str, str], await self._run(self.redis.hgetall(kills)))
        out: list[SessionCommand] = []
        stale: list[str] = []
        for sid, value in raw.items():
            try:
                cmd = decode_as(SessionCommand, value)
            except DecodeError as exc:
                log.warning("mirrored_command_undecodable", extra={"error": str(exc)})
                continue
            if cmd.active_at(now):  # False for a resume a previous version stored
                out.append(cmd)
            else:
                stale += (sid, value)
        pruned = await self._prune([kills], stale)
        horizon = f"{int((now.timestamp() - self._ttl) * 1_000_000):020d}"
        orders = cast(dict[str, str], await self._run(self.redis.hgetall(order)))
        old = [x for sid, o in orders.items() if o[:20] < horizon for x in (sid, o)]
        tombstones = await self._prune([order, kills], old)
        if pruned or tombstones:
            log.info("kills_pruned", extra={"expired": pruned, "tombstones": tombstones})
        return out

    async def _prune(self, keys: list[str], pairs: list[str]) -> int:
        if not pairs:
            return 0
        assert self._prune_script is not None
        return int(await self._run(self._prune_script(keys=keys, args=pairs)))

    async def get(self, session_id: str) -> SessionInfo | None:
        found = await self._infos([session_id])
        return found[0] if found else None

    async def query(
        self,
        *,
        flagged: bool | None = None,
        backend: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[SessionInfo]:
        index = self._key("flagged") if flagged else self._key("sessions")
        floor = since.timestamp() if since is not None else "-inf"
        # Filters other than recency run client-side over a bounded window.
        window = limit if backend is None and flagged is None else max(limit * 20, 1000)
        ids = cast(
            list[str],
            await self._run(self.redis.zrevrangebyscore(index, "+inf", floor, start=0, num=window)),
        )
        out: list[SessionInfo] = []
        for info in await self._infos(ids):
            if flagged is not None and info.flagged != flagged:
                continue
            if backend is not None and info.backend != backend:
                continue
            if since is not None and info.last_seen is not None and info.last_seen < since:
                continue
            out.append(info)
            if len(out) >= limit:
                break
        return out

    async def count(self, since: datetime | None = None) -> int:
        floor = since.timestamp() if since is not None else "-inf"
        return int(await self._run(self.redis.zcount(self._key("sessions"), floor, "+inf")))

    async def _infos(self, ids: Sequence[str]) -> list[SessionInfo]:
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for sid in ids:
            pipe.hgetall(self._key(f"session:{sid}"))
        pipe.hmget(self._key("kills"), list(ids))
        results = cast(list[object], await self._run(pipe.execute()))
        kills = cast(list[str | None], results[-1])
        out: list[SessionInfo] = []
        for sid, raw, kill in zip(ids, results[:-1], kills, strict=True):
            h = cast(dict[str, str], raw)
            if not h:
                continue
            cmd = None
            if kill is not None:
                with contextlib.suppress(DecodeError):
                    cmd = decode_as(SessionCommand, kill)
            info = session_info(
                sid,
                first_seen=_epoch(h.get("first_seen")),
                last_seen=_epoch(h.get("last_seen")),
                flagged=h.get("flagged") == "1",
                counters={f: int(h.get(f, 0)) for f in COUNTER_FIELDS},
                labels={f: h.get(f) for f in LABEL_FIELDS},
                kill=cmd,
            )
            out.append(info)
        return out

    async def _run(self, awaitable: Awaitable[Any]) -> Any:
        try:
            return await awaitable
        except RedisError as exc:
            raise SessionStoreError(f"Redis command failed: {exc}") from exc
