"""The PII transform as the proxy uses it: one object built from the settings.

    pii = PIIService.from_settings(settings)
    done = await pii.transform(route.backend, session, parsed)   # mutates `parsed`
    restorer = await pii.restorer(session, done)                 # before relaying the answer

Failure policy: a vault store that is down answers 503 (`on_vault_down:
fail_closed`, the default) or masks irreversibly and forwards (`mask`); an
expired vault lets the answer pass with its placeholders and counts a warning.
Nothing here logs a value or a placeholder mapping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import SecretStr

from proxy.netaddr import is_loopback
from proxy.pii.bodies import Shape, read_shape
from proxy.pii.errors import EntityBlocked, VaultKeyError, VaultUnavailable
from proxy.pii.placeholders import Restorer
from proxy.pii.policy import ActionTable
from proxy.pii.settings import EntityAction, PIISettings
from proxy.pii.store import MemoryVaultStore, RedisVaultStore, VaultStore
from proxy.pii.transform import Found, Transformed, apply, scan_body
from proxy.pii.vault import KeyRing, SessionVault, key_from_file, weak_key
from proxy.settings import BackendConfig, ProxySettings
from streams.policy.entities import EntityFinder

__all__ = ["PIIService", "PIIStats", "vault_key_problems"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass(slots=True)
class PIIStats:
    """Counters of this replica's transform (never values)."""

    requests_transformed: int = 0
    entities_transformed: int = 0
    blocked: int = 0
    vault_expired: int = 0
    vault_down: int = 0
    masked_vault_down: int = 0


def _vault_kind(settings: ProxySettings) -> str:
    return settings.pii.vault_store or settings.session_store


def _vault_keys(s: PIISettings) -> list[SecretStr]:
    if s.keys:
        return list(s.keys)
    return [key_from_file(s.key_file)] if s.key_file is not None else []


def vault_key_problems(settings: ProxySettings) -> list[str]:
    """Why the vault keys do not fit the deployment (empty: fine; checked at start-up).

    A shared (Redis) vault needs configured keys: a per-process key cannot open
    the entries other replicas sealed, nor this replica's own after a restart, so
    answers would pass with their placeholders. Off loopback a guessable key
    (all zeros, a repeated pattern) is refused like the other public defaults.
    """
    s = settings.pii
    if not s.enabled:
        return []
    problems: list[str] = []
    if _vault_kind(settings) == "redis" and not s.keys and s.key_file is None:
        problems.append(
            "the PII vault is shared (Redis) but has no key: set MODELTRAIL_PROXY__PII__KEYS "
            'to the same JSON list of keys on every replica (a key: `python -c "from '
            'proxy.pii import KeyRing; print(KeyRing.generate())"`); a per-process key '
            "cannot open what other replicas sealed"
        )
    if not (is_loopback(settings.host) and is_loopback(settings.control_host)):
        if any(weak_key(k) for k in s.keys):
            problems.append(
                "a MODELTRAIL_PROXY__PII__KEYS key is guessable (too few distinct bytes): "
                "generate a random one"
            )
    return problems


class PIIService:
    """Finder, action table and vault of one proxy."""

    def __init__(
        self, finder: EntityFinder, table: ActionTable, vault: SessionVault, *, capture_raw: bool,
        fail_closed: bool, offload_bytes: int = 65_536,
    ) -> None:  # fmt: skip
        self.finder = finder
        self.table = table
        self.vault = vault
        self.capture_raw = capture_raw
        self.fail_closed = fail_closed
        self.stats = PIIStats()
        self.offload_bytes = offload_bytes
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def from_settings(cls, settings: ProxySettings, store: VaultStore | None = None) -> PIIService:
        """Build from `settings.pii`; `store` overrides the configured vault store (tests).

        Raises VaultKeyError when the vault keys do not fit the deployment
        (`vault_key_problems`).
        """
        s = settings.pii
        problems = vault_key_problems(settings)
        if problems:
            raise VaultKeyError("refusing to start: " + "; ".join(problems))
        table = ActionTable(s)
        if store is None:
            if _vault_kind(settings) == "redis":
                store = RedisVaultStore(
                    settings.redis.url.get_secret_value(),
                    key_prefix=settings.redis.key_prefix,
                    ttl_s=s.vault_ttl_s,
                )
            else:
                store = MemoryVaultStore(s.vault_ttl_s, settings.memory_max_sessions)
        return cls(
            EntityFinder(table.custom_entities),
            table,
            SessionVault(store, KeyRing(_vault_keys(s)), s.vault_max_entries),
            capture_raw=s.capture == "raw",
            fail_closed=s.on_vault_down == "fail_closed",
            offload_bytes=settings.inline_offload_bytes,
        )

    async def start(self) -> None:
        await self.vault.store.start()

    async def stop(self) -> None:
        await self.vault.store.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def active(self, backend: BackendConfig) -> bool:
        """Whether requests to `backend` need scanning at all."""
        return not self.table.all_allowed(backend, self.finder.types)

    async def prepare(
        self, backend: BackendConfig, session: str, body: bytes, content_type: str = ""
    ) -> tuple[Transformed | None, Any, bytes]:
        """(what was done, the body the audit event gets, the bytes to forward) for a request.

        Any body, on any path: JSON, a form, multipart or text (`proxy.pii.bodies`);
        JSON is always forwarded re-encoded from what was scanned, a binary body
        unchanged. Parses `body` itself (what the intake
        keeps of a huge body may be partial); the audit gets the raw body back only
        under `capture: raw`. Bodies over `offload_bytes` are parsed, scanned and
        encoded on a worker thread, so the event loop never waits on them.
        Raises EntityBlocked for a `block` type, VaultUnavailable when failing closed.
        """
        if not body or not self.active(backend):
            return None, None, body
        big = len(body) > self.offload_bytes
        scanned = await self._cpu(big, self._scan, body, content_type)
        if scanned is None:
            return None, None, body
        shape, found = scanned
        done = await self._apply(backend, session, found)
        if done is None:
            if not shape.json:
                return None, None, body
            # JSON goes upstream as it was read: what the parse dropped (the first of two
            # duplicate keys, holding a value) never reaches the backend's logs.
            return None, None, await self._cpu(big, shape.encode, shape.holder)
        if self.capture_raw:
            audited = read_shape(body, content_type)
            audited = audited.audited(audited.holder) if audited is not None else None
        else:
            audited = shape.audited(shape.holder)
        return done, audited, await self._cpu(big, shape.encode, shape.holder)

    def _scan(self, body: bytes, content_type: str) -> tuple[Shape, list[Found]] | None:
        shape = read_shape(body, content_type)
        if shape is None:
            return None
        return shape, scan_body(self.finder, shape.holder)

    async def _cpu(self, off_loop: bool, fn: Callable[..., _T], *args: Any) -> _T:
        if not off_loop:
            return fn(*args)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mt-pii")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def transform(
        self, backend: BackendConfig, session: str, body: Any
    ) -> Transformed | None:
        """Transform `body` (parsed JSON) in place; None when it held nothing to transform.

        Raises EntityBlocked for a `block` type, VaultUnavailable when failing closed.
        """
        return await self._apply(backend, session, scan_body(self.finder, body))

    async def _apply(
        self, backend: BackendConfig, session: str, found: list[Found]
    ) -> Transformed | None:
        if not found:
            return None

        def action(kind: str) -> EntityAction:
            return self.table.action(backend, kind)

        try:
            view = await self.vault.load(
                session, ((s.type, s.value) for f in found for s in f.spans)
            )
            done = await apply(found, action, self.vault, view)
        except VaultUnavailable:
            self.stats.vault_down += 1
            if self.fail_closed:
                raise
            self.stats.masked_vault_down += 1
            done = await apply(found, action, None, None)
        except EntityBlocked:
            self.stats.blocked += 1
            raise
        self.stats.requests_transformed += 1
        self.stats.entities_transformed += sum(done.counts.values())
        return done

    async def transform_text(
        self, text: str, backend: BackendConfig, session: str = "offline"
    ) -> tuple[str, dict[str, int]]:
        """One bare text transformed as a request message would be (`policy eval --transform`)."""
        body: dict[str, Any] = {"text": text}
        done = await self.transform(backend, session, body)
        return str(body["text"]), dict(done.counts) if done is not None else {}

    async def restorer(self, session: str, done: Transformed | None) -> Restorer | None:
        """What restores this request's placeholders in its answer, or None (nothing to do).

        Reads the vault again, so a revocation made meanwhile yields `[REVOKED]`.
        """
        if done is None or not done.scope:
            return None
        try:
            values = await self.vault.resolve(session, done.scope)
        except VaultUnavailable:
            self.stats.vault_down += 1
            if self.fail_closed:
                raise
            values = dict(done.scope)
        if values is None:
            self.stats.vault_expired += 1
            log.warning("pii_vault_expired", extra={"placeholders": len(done.scope)})
            return None
        return Restorer(values, audit_restored=self.capture_raw)
