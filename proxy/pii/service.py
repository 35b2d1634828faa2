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

from proxy.pii.bodies import Shape, read_shape
from proxy.pii.errors import EntityBlocked, VaultUnavailable
from proxy.pii.placeholders import Restorer
from proxy.pii.policy import ActionTable
from proxy.pii.settings import EntityAction
from proxy.pii.store import MemoryVaultStore, RedisVaultStore, VaultStore
from proxy.pii.transform import Found, Transformed, apply, scan_body
from proxy.pii.vault import KeyRing, SessionVault
from proxy.settings import BackendConfig, ProxySettings
from streams.policy.entities import EntityFinder

__all__ = ["PIIService", "PIIStats"]

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
        """Build from `settings.pii`; `store` overrides the configured vault store (tests)."""
        s = settings.pii
        table = ActionTable(s)
        if store is None:
            kind = s.vault_store or settings.session_store
            if kind == "redis":
                store = RedisVaultStore(
                    settings.redis.url.get_secret_value(),
                    key_prefix=settings.redis.key_prefix,
                    ttl_s=s.vault_ttl_s,
                )
            else:
                store = MemoryVaultStore(s.vault_ttl_s, settings.memory_max_sessions)
        ring = KeyRing(s.keys)
        if ring.ephemeral and isinstance(store, RedisVaultStore):
            log.warning("pii_vault_ephemeral_key")  # replicas cannot open each other's entries
        return cls(
            EntityFinder(table.custom_entities),
            table,
            SessionVault(store, ring, s.vault_max_entries),
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
        a binary body is forwarded unchanged. Parses `body` itself (what the intake
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
            return None, None, body
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
            view = await self.vault.load(session)
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
