"""The in-memory key registry: who a presented key is and what it may do.

Pure: no I/O and no clock (`now` is passed in). Records arrive from the
compacted `identity.keys` topic (replay, then live) and from this replica's
own control API, possibly twice and out of order: only a newer version of a
key id replaces the held one, so any interleaving ends in the same state.
Lookup is by keyed hash (one HMAC, one dict lookup); the raw key is never kept.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from proxy.keys.errors import KeyForbidden, KeyInvalid
from proxy.keys.tokens import key_hash, looks_like_key
from schemas.identity import KeyRecord

__all__ = ["ClientIdentity", "KeyRegistry", "Who"]


class Who(TypedDict, total=False):
    """Identity fields stamped on events (`**who` into the event builders)."""

    key_id: str | None
    team: str | None
    user: str | None


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """Who a request is from, as stamped on every event."""

    key_id: str
    team: str
    user: str | None
    record: KeyRecord

    def who(self) -> Who:
        return {"key_id": self.key_id, "team": self.team, "user": self.user}

    def authorize(self, backend: str, model: str | None, *, reads_only: bool = False) -> None:
        """Raise KeyForbidden when the key may not use `backend` or `model`.

        A model-restricted key may send a request naming no model only when it
        `reads_only` (a GET such as listing models): nothing else runs a model.
        """
        record = self.record
        if record.backends and backend not in record.backends:
            raise KeyForbidden(f"key {record.key_id} may not use backend {backend!r}")
        if record.models:
            if model is None:
                if reads_only:
                    return
                raise KeyForbidden(f"key {record.key_id} is limited to models {record.models}")
            if not any(fnmatch.fnmatchcase(model, glob) for glob in record.models):
                raise KeyForbidden(f"key {record.key_id} may not use model {model!r}")


class KeyRegistry:
    """Latest record per key id, indexed by keyed hash."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._by_id: dict[str, KeyRecord] = {}
        self._by_hash: dict[str, KeyRecord] = {}
        self._hash_cache: dict[str, str] = {}

    def apply(self, record: KeyRecord) -> bool:
        """Hold `record` unless a newer version of its key id is held; return whether it was."""
        current = self._by_id.get(record.key_id)
        if current is not None and not record.newer_than(current):
            return False
        if current is not None:
            self._by_hash.pop(current.key_hash, None)
        self._by_id[record.key_id] = record
        self._by_hash[record.key_hash] = record
        return True

    def get(self, key_id: str) -> KeyRecord | None:
        return self._by_id.get(key_id)

    def all(self) -> list[KeyRecord]:
        return sorted(self._by_id.values(), key=lambda r: r.created_at)

    def __len__(self) -> int:
        return len(self._by_id)

    def _hash(self, presented: str) -> str:
        # Cache only well-formed keys (bounded): a flood of junk cannot grow it.
        digest = self._hash_cache.get(presented)
        if digest is None:
            digest = key_hash(self._secret, presented)
            if len(self._hash_cache) >= 10_000:
                self._hash_cache.clear()
            self._hash_cache[presented] = digest
        return digest

    def authenticate(self, presented: str | None, now: datetime) -> ClientIdentity:
        """The identity holding `presented`.

        Raises:
            KeyInvalid: no key, not a modeltrail key, unknown, disabled or expired.
        """
        if not presented:
            raise KeyInvalid("missing modeltrail key: send it as `Authorization: Bearer mt-...`")
        if not looks_like_key(presented):
            raise KeyInvalid("malformed modeltrail key")
        record = self._by_hash.get(self._hash(presented))
        if record is None:
            raise KeyInvalid("unknown modeltrail key")
        if record.disabled:
            raise KeyInvalid(f"modeltrail key {record.key_id} is disabled")
        if record.expires_at is not None and now >= record.expires_at:
            raise KeyInvalid(f"modeltrail key {record.key_id} expired")
        return ClientIdentity(record.key_id, record.team, record.user, record)
