"""`ClientGate`: what the forwarding app asks about identity, and `ScopedEnforcement`.

Per request: `identify` (401), `authorize` (403), `session_id` (namespaced by
key), `enforcement` (kills of the session, key, user and team, checked before
forwarding and at every stream chunk), `admit` (429), `cost` and `settle`.
With `client_auth: none` every call is a no-op and requests carry no identity.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from proxy.dialects.base import Assembled
from proxy.enforcement.base import Enforcement
from proxy.keys.book import KeyBook, KeySource
from proxy.keys.counters import Counters, MemoryCounters, RedisCounters
from proxy.keys.limits import LimitGate
from proxy.keys.prices import PriceTable
from proxy.keys.registry import ClientIdentity, Who
from proxy.keys.secret import key_secret
from proxy.keys.tokens import KEY_PREFIX, looks_like_key
from proxy.settings import ProxySettings
from schemas.events import LLMRequest, LLMResponse, Provider, SessionCommand, scope_key

__all__ = [
    "ClientGate",
    "ScopedEnforcement",
    "Who",
    "build_key_book",
    "carries_client_key",
    "presented_key",
]

log = logging.getLogger(__name__)


def build_key_book(settings: ProxySettings) -> KeyBook:
    """The key book the settings ask for (creates the secret file when needed)."""
    return KeyBook(
        settings.kafka,
        key_secret(settings.key_secret, settings.key_secret_file),
        fetch_max_wait_ms=settings.command_fetch_wait_ms,
        replay_timeout_s=settings.keys_replay_timeout_s,
    )


def _counters(settings: ProxySettings) -> Counters:
    store = settings.limits_store or settings.session_store
    if store == "redis":
        return RedisCounters(
            settings.redis.url.get_secret_value(), f"{settings.redis.key_prefix}lim:"
        )
    return MemoryCounters()


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The modeltrail key among the places clients put keys, else the first key found.

    A client may send its own provider key beside ours (`Authorization` for one SDK,
    `x-api-key` for another): the one shaped like a modeltrail key wins.
    """
    found: list[str] = []
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        found.append(value.strip() if scheme.lower() == "bearer" else auth)
    found.extend(v for h in ("x-api-key", "api-key") if (v := headers.get(h)))
    return next((k for k in found if looks_like_key(k)), found[0] if found else None)


def carries_client_key(value: str) -> bool:
    """Whether a credential header value may hold a modeltrail key (never sent upstream).

    Deliberately broad (any `mt-`): a provider key that happens to contain it is
    held back too, which fails safe.
    """
    return KEY_PREFIX in value


class ScopedEnforcement:
    """One request's view of enforcement: a kill of its session, key, user or team blocks it."""

    __slots__ = ("_inner", "_scoped")

    def __init__(self, inner: Enforcement, identity: ClientIdentity) -> None:
        self._inner = inner
        self._scoped = [scope_key("key", identity.key_id), scope_key("team", identity.team)]
        if identity.user:
            self._scoped.append(scope_key("user", identity.user))

    def check(self, session_id: str, now: datetime | None = None) -> SessionCommand | None:
        cmd = self._inner.check(session_id, now)
        if cmd is None:
            for subject in self._scoped:
                cmd = self._inner.check(subject, now)
                if cmd is not None:
                    break
        return cmd

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def observe_request(self, event: LLMRequest) -> None:
        self._inner.observe_request(event)

    def observe_response(self, event: LLMResponse) -> None:
        self._inner.observe_response(event)


class ClientGate:
    """Identity, limits and cost for the forwarding path."""

    def __init__(
        self,
        settings: ProxySettings,
        book: KeySource | None,
        *,
        limits: LimitGate | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        self.enabled = settings.client_auth == "keys"
        if self.enabled and book is None:
            book = build_key_book(settings)
        self.book = book
        self.limits = limits or LimitGate(_counters(settings), dict(settings.team_limits))
        self.prices = prices or PriceTable.load(settings.prices_file)
        self.unpriced = 0

    async def start(self) -> None:
        await self.limits.counters.start()
        if self.book is not None:  # with auth off, keys can still be managed
            await self.book.start()

    async def stop(self) -> None:
        if self.book is not None:
            await self.book.stop()
        await self.limits.counters.stop()

    def identify(self, headers: Mapping[str, str]) -> ClientIdentity | None:
        """The caller's identity (None when auth is off). Raises KeyInvalid (401)."""
        if not self.enabled or self.book is None:
            return None
        return self.book.registry.authenticate(presented_key(headers), datetime.now(UTC))

    @staticmethod
    def who(identity: ClientIdentity | None) -> Who:
        return {} if identity is None else identity.who()

    @staticmethod
    def who_of(event: LLMRequest) -> Who:
        """The identity a request event carries, for the events that follow it."""
        return {"key_id": event.key_id, "team": event.team, "user": event.user}

    @staticmethod
    def session_id(identity: ClientIdentity | None, session: str) -> str:
        """Sessions are named inside a key (`mk_...:<name>`): two keys never share one.

        `:` rather than `/` keeps the id usable in a URL path (control API, CLI).
        """
        return session if identity is None else f"{identity.key_id}:{session}"

    @staticmethod
    def enforcement(inner: Enforcement, identity: ClientIdentity | None) -> Enforcement:
        return inner if identity is None else ScopedEnforcement(inner, identity)

    @staticmethod
    def authorize(
        identity: ClientIdentity | None, backend: str, model: object, method: str
    ) -> None:
        """Raise KeyForbidden (403) when the key may not use this backend or model."""
        if identity is not None:
            name = model if isinstance(model, str) else None
            identity.authorize(backend, name, reads_only=method in ("GET", "HEAD"))

    async def admit(self, identity: ClientIdentity | None) -> None:
        """Raise LimitExceeded (429) when a limit of the key or team is used up."""
        if identity is not None:
            await self.limits.admit(identity)

    def cost(
        self,
        provider: Provider,
        model: str | None,
        input_tokens: int | None,
        output_tokens: int | None,
        cached_input_tokens: int | None,
    ) -> float | None:
        """USD of one answer; None (and counted) when the model has no price."""
        if input_tokens is None and output_tokens is None:
            return None
        cost = self.prices.cost(
            model,
            input_tokens,
            output_tokens,
            cached_input_tokens,
            cached_in_input=provider != "anthropic",
        )
        if cost is None:
            self.unpriced += 1
        return cost

    def cost_of(
        self, provider: Provider, requested: str | None, result: Assembled | None
    ) -> float | None:
        """USD of a relayed answer (the answer's model, else the requested one), or None."""
        if result is None or not (result.input_tokens or result.output_tokens):
            return None
        return self.cost(
            provider,
            result.model or requested,
            result.input_tokens,
            result.output_tokens,
            result.cached_input_tokens,
        )

    async def settle(self, identity: ClientIdentity | None, event: LLMResponse) -> None:
        """Add an answer's tokens and cost to its key's and team's counters (never raises)."""
        if identity is None:
            return
        try:
            await self.limits.settle(identity, event.total_tokens, event.cost_usd)
        except Exception:  # counting must not fail a relayed answer
            log.exception("limits_settle_failed")

    def stats(self) -> Mapping[str, object]:
        return {
            "client_auth": "keys" if self.enabled else "none",
            "keys": len(self.book.registry) if self.book is not None else 0,
            "unpriced_responses": self.unpriced,
        }
