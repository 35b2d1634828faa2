"""The sealed session vault: key ring rotation, tampering, consistency, revocation, expiry."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from proxy.pii.errors import VaultKeyError
from proxy.pii.store import MemoryVaultStore
from proxy.pii.vault import REVOKED, KeyRing, SessionVault


def _ring(*keys: str) -> KeyRing:
    return KeyRing([SecretStr(k) for k in keys])


def test_rotation_newest_seals_all_open() -> None:
    old, new = KeyRing.generate(), KeyRing.generate()
    sealed_old = _ring(old).seal(b"v", b"s1")
    rotated = _ring(new, old)
    assert rotated.open(sealed_old, b"s1") == b"v"
    assert _ring(old).open(rotated.seal(b"w", b"s1"), b"s1") is None  # sealed under `new`
    assert _ring(new).open(sealed_old, b"s1") is None  # `old` dropped: no longer opens


def test_tampered_or_moved_entry_does_not_open() -> None:
    ring = _ring(KeyRing.generate())
    sealed = bytearray(ring.seal(b"secret", b"s1"))
    assert ring.open(bytes(sealed), b"s2") is None  # copied into another session
    sealed[-1] ^= 1
    assert ring.open(bytes(sealed), b"s1") is None


@pytest.mark.parametrize("key", ["short", "!!!not-base64!!!", ""])
def test_bad_keys_are_refused(key: str) -> None:
    with pytest.raises(VaultKeyError):
        _ring(key)


async def test_same_value_same_placeholder_new_value_next_number() -> None:
    vault = SessionVault(MemoryVaultStore(60), _ring(KeyRing.generate()))
    view = await vault.load("s")
    assert await vault.issue(view, "EMAIL", "a@b.example") == "\u27e6EMAIL_1\u27e7"
    again = await vault.load("s")
    assert await vault.issue(again, "EMAIL", "a@b.example") == "\u27e6EMAIL_1\u27e7"
    assert await vault.issue(again, "EMAIL", "c@d.example") == "\u27e6EMAIL_2\u27e7"
    other = await vault.load("other-session")
    assert await vault.issue(other, "EMAIL", "c@d.example") == "\u27e6EMAIL_1\u27e7"


async def test_store_holds_no_clear_value() -> None:
    store = MemoryVaultStore(60)
    vault = SessionVault(store, _ring(KeyRing.generate()))
    await vault.issue(await vault.load("s"), "EMAIL", "a@b.example")
    raw = await store.read("s")
    assert all(b"a@b.example" not in v and "a@b.example" not in k for k, v in raw.items())


async def test_revocation_and_expiry() -> None:
    store = MemoryVaultStore(60)
    vault = SessionVault(store, _ring(KeyRing.generate()))
    view = await vault.load("s")
    a = await vault.issue(view, "EMAIL", "a@b.example")
    b = await vault.issue(view, "PHONE", "+44 20 7946 0958")
    await vault.revoke("s", "email_1")
    assert await vault.resolve("s", {a: "", b: ""}) == {a: REVOKED, b: "+44 20 7946 0958"}
    await vault.revoke("s")
    assert await vault.resolve("s", {a: "", b: ""}) == {a: REVOKED, b: REVOKED}
    store.expire_now("s")
    assert await vault.resolve("s", {a: ""}) is None


async def test_memory_store_is_bounded() -> None:
    store = MemoryVaultStore(60, max_sessions=3)
    for i in range(10):
        await store.put(f"s{i}", "f", b"1")
    assert [s for s in [f"s{i}" for i in range(10)] if await store.read(s)] == ["s7", "s8", "s9"]


async def test_a_flood_of_values_is_capped_per_session() -> None:
    vault = SessionVault(MemoryVaultStore(60), _ring(KeyRing.generate()), max_entries=3)
    view = await vault.load("s")
    issued = [await vault.issue(view, "EMAIL", f"u{i}@corp.example") for i in range(5)]
    assert issued[:3] == [f"\u27e6EMAIL_{i}\u27e7" for i in (1, 2, 3)] and issued[3:] == [
        None,
        None,
    ]
    assert await vault.issue(view, "EMAIL", "u0@corp.example") == "\u27e6EMAIL_1\u27e7"
