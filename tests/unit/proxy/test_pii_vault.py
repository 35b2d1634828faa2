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
    # The scope is what the request issued: placeholder -> value.
    scope = {a: "a@b.example", b: "+44 20 7946 0958"}
    assert await vault.resolve("s", scope) == {a: REVOKED, b: "+44 20 7946 0958"}
    await vault.revoke("s")
    assert await vault.resolve("s", scope) == {a: REVOKED, b: REVOKED}
    store.expire_now("s")
    assert await vault.resolve("s", scope) is None


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


async def test_a_request_reads_only_its_own_entries() -> None:
    """The per-request vault cost does not grow with the values a session holds."""

    class Counting(MemoryVaultStore):
        fields_read = 0

        async def read_fields(self, session: str, names: list[str]) -> tuple[dict[str, bytes], int]:
            found, size = await super().read_fields(session, names)
            self.fields_read += len(found)
            return found, size

    store = Counting(60)
    vault = SessionVault(store, _ring(KeyRing.generate()))
    view = await vault.load("s")
    for i in range(300):
        await vault.issue(view, "EMAIL", f"u{i}@corp.example")
    store.fields_read = 0
    again = await vault.load("s", [("EMAIL", "u7@corp.example"), ("EMAIL", "new@corp.example")])
    assert again.by_value == {("EMAIL", "u7@corp.example"): "\u27e6EMAIL_8\u27e7"}
    assert again.size == 301  # 300 entries and the EMAIL counter
    assert await vault.issue(again, "EMAIL", "new@corp.example") == "\u27e6EMAIL_301\u27e7"
    ph = "\u27e6EMAIL_8\u27e7"
    assert await vault.resolve("s", {ph: "u7@corp.example"}) == {ph: "u7@corp.example"}
    assert store.fields_read == 2  # u7 for the transform, u7 for the answer
