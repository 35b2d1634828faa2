"""The session vault: which value each placeholder stands for, sealed with AES-GCM.

Each entry is sealed under the newest key of the ring (`KeyRing`) with the
session id as associated data, so an entry copied into another session does
not open; every key of the ring opens, so a key is rotated by prepending a new
one and dropping the old once its sessions expired (no downtime). Stored as
`e:<hmac(type, value)>` → sealed `{"t","v","p"}`, `n:<TYPE>` → counter and
`r:<placeholder>` / `r:*` → revocation markers. The mapping lives only here
(memory or Redis): never in events, Kafka, Parquet or logs.

Consistency: the same value gets the same placeholder for the whole session;
two replicas racing on a new value both end with the first writer's
placeholder (`add` never overwrites), at the cost of a skipped number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from proxy.pii.errors import VaultKeyError
from proxy.pii.placeholders import placeholder
from proxy.pii.store import VaultStore

__all__ = ["REVOKED", "KeyRing", "SessionVault", "VaultView", "key_from_file", "weak_key"]

REVOKED = "[REVOKED]"
_ALL = "r:*"
_CACHE_MAX = 50_000


# A random 32-byte key has ~30 distinct byte values; fewer than this is a typed-in
# placeholder (`AAAA...`, a repeated word), never a generated key.
_MIN_DISTINCT_BYTES = 16


def _decode_key(value: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(value.strip() + "==")
    except ValueError as exc:
        raise VaultKeyError("a PII vault key is not URL-safe base64") from exc
    if len(key) != 32:
        raise VaultKeyError(f"a PII vault key must be 32 bytes, got {len(key)}")
    return key


def weak_key(key: SecretStr) -> bool:
    """Whether `key` is a publicly guessable one (all zeros, a repeated pattern, ...)."""
    try:
        raw = _decode_key(key.get_secret_value())
    except VaultKeyError:
        return False  # refused as malformed anyway
    return len(set(raw)) < _MIN_DISTINCT_BYTES


def key_from_file(path: Path) -> SecretStr:
    """The vault key kept in `path`, created (0600) with a fresh key when missing.

    One file serves every proxy on one machine (`modeltrail up`); replicas on
    several machines need the same key in `MODELTRAIL_PROXY__PII__KEYS`.
    """
    try:
        return SecretStr(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = KeyRing.generate()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile
        return SecretStr(path.read_text().strip())
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return SecretStr(value)


class KeyRing:
    """AES-256-GCM keys: the first seals, every one opens (rotation without downtime)."""

    def __init__(self, keys: Iterable[SecretStr]) -> None:
        raw = [_decode_key(k.get_secret_value()) for k in keys]
        self.ephemeral = not raw
        if not raw:  # no configured key: this process only (memory store, tests)
            raw.append(os.urandom(32))
        self._keys = {hashlib.sha256(k).digest()[:4]: AESGCM(k) for k in raw}
        self._newest_id = hashlib.sha256(raw[0]).digest()[:4]
        self._digest_key = hashlib.sha256(b"modeltrail-pii-digest" + raw[0]).digest()

    @staticmethod
    def generate() -> str:
        """A fresh key for settings (`modeltrail` prints one on request)."""
        return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """key id (4) + nonce (12) + ciphertext and tag."""
        nonce = os.urandom(12)
        return self._newest_id + nonce + self._keys[self._newest_id].encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes | None:
        """The plaintext, or None when no key of the ring opens it (rotated out, tampered)."""
        aes = self._keys.get(sealed[:4])
        if aes is None:
            return None
        try:
            return aes.decrypt(sealed[4:16], sealed[16:], aad)
        except InvalidTag:
            return None

    def digest(self, kind: str, value: str) -> str:
        """A keyed digest naming an entry without revealing its value."""
        mac = hmac.new(self._digest_key, f"{kind}\x00{value}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]


@dataclass(slots=True)
class VaultView:
    """One session's decrypted entries, as read at the start of a request."""

    session: str
    by_value: dict[tuple[str, str], str] = field(default_factory=dict)
    by_placeholder: dict[str, str] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    all_revoked: bool = False
    unreadable: int = 0
    size: int = 0  # fields the session's hash holds (entries, counters, markers)


def _kind_of(ph: str) -> str:
    """`EMAIL` of `⟦EMAIL_1⟧`."""
    return ph[1:-1].rpartition("_")[0]


class SessionVault:
    """Placeholders of every session: issue, resolve, revoke."""

    def __init__(self, store: VaultStore, ring: KeyRing, max_entries: int = 10_000) -> None:
        # `max_entries` bounds the fields of a session's hash: values, plus one counter
        # per entity type and the revocation markers.
        self.store = store
        self.ring = ring
        self.max_entries = max_entries
        # Opened entries by their sealed bytes: a session's entries are read on every
        # request, and AES-GCM per entry per request would grow with the session.
        self._opened: OrderedDict[bytes, tuple[str, str, str]] = OrderedDict()
        self._fields: dict[tuple[str, str], str] = {}

    def _open(self, session: str, sealed: bytes) -> tuple[str, str, str] | None:
        hit = self._opened.get(sealed)
        if hit is not None:
            return hit
        plain = self.ring.open(sealed, session.encode())
        if plain is None:
            return None
        d = orjson.loads(plain)
        entry = (str(d["t"]), str(d["v"]), str(d["p"]))
        self._opened[sealed] = entry
        if len(self._opened) > _CACHE_MAX:
            self._opened.popitem(last=False)
        return entry

    def _field(self, kind: str, value: str) -> str:
        """The hash field of a value's entry (a keyed digest: the name reveals nothing)."""
        name = self._fields.get((kind, value))
        if name is None:
            if len(self._fields) > _CACHE_MAX:
                self._fields.clear()
            name = self._fields[(kind, value)] = f"e:{self.ring.digest(kind, value)}"
        return name

    def _view(self, session: str, fields: Mapping[str, bytes], size: int) -> VaultView:
        view = VaultView(session, size=size)
        for name, raw in fields.items():
            if name.startswith("e:"):
                entry = self._open(session, raw)
                if entry is None:
                    view.unreadable += 1
                    continue
                kind, value, ph = entry
                view.by_value[(kind, value)] = ph
                view.by_placeholder[ph] = value
            elif name == _ALL:
                view.all_revoked = True
            elif name.startswith("r:"):
                view.revoked.add(name[2:])
        return view

    async def load(
        self, session: str, wanted: Iterable[tuple[str, str]] | None = None
    ) -> VaultView:
        """The session's entries of the `wanted` (type, value) pairs, or all of them (None).

        Reading only the entries a request needs keeps its cost independent of how
        many values the session holds. Raises VaultUnavailable when the store is down.
        """
        if wanted is None:
            fields = await self.store.read(session)
            return self._view(session, fields, len(fields))
        names = list({self._field(kind, value) for kind, value in wanted})
        fields, size = await self.store.read_fields(session, names)
        return self._view(session, fields, size)

    async def issue(self, view: VaultView, kind: str, value: str) -> str | None:
        """The session's placeholder for `value`, creating it when new.

        None when the session already holds `max_entries` values: a flood of new
        values must not grow the vault without bound (the caller masks instead).
        """
        ph = view.by_value.get((kind, value))
        if ph is not None:
            return ph
        if view.size >= self.max_entries:
            return None
        n = await self.store.next_number(view.session, kind)
        ph = placeholder(kind, n)
        aad = view.session.encode()
        sealed = self.ring.seal(orjson.dumps({"t": kind, "v": value, "p": ph}), aad)
        stored = await self.store.add(view.session, self._field(kind, value), sealed)
        view.size += 1
        if stored != sealed:  # another replica issued this value first: use its placeholder
            entry = self._open(view.session, stored)
            if entry is not None:
                ph = entry[2]
        view.by_value[(kind, value)] = ph
        view.by_placeholder[ph] = value
        return ph

    async def resolve(self, session: str, scope: Mapping[str, str]) -> dict[str, str] | None:
        """Values for the placeholders of `scope` as the vault holds them now.

        Revoked placeholders resolve to `[REVOKED]`; None when the session's vault
        expired (the caller passes placeholders through and counts a warning).
        """
        names = [self._field(_kind_of(ph), value) for ph, value in scope.items()]
        names += [_ALL, *(f"r:{ph}" for ph in scope)]
        fields, size = await self.store.read_fields(session, names)
        view = self._view(session, fields, size)
        if not view.by_placeholder and not view.all_revoked:
            return None  # none of this request's entries is left: the vault expired
        out: dict[str, str] = {}
        for ph in scope:
            value = view.by_placeholder.get(ph)
            if value is None:
                continue
            out[ph] = REVOKED if view.all_revoked or ph in view.revoked else value
        return out

    async def revoke(self, session: str, entity: str | None = None) -> None:
        """Revoke one placeholder (`⟦EMAIL_1⟧` or `EMAIL_1`) or, with None, the whole session."""
        if entity is None:
            await self.store.put(session, _ALL, b"1")
            return
        core = entity.strip().strip("\u27e6\u27e7[]").upper()
        await self.store.put(session, f"r:\u27e6{core}\u27e7", b"1")
