"""Key material, the registry (authenticate, authorize, newest version wins) and prices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from proxy.keys.errors import KeyForbidden, KeyInvalid
from proxy.keys.prices import ModelPrice, PriceTable
from proxy.keys.registry import KeyRegistry
from proxy.keys.tokens import key_hash, looks_like_key, new_key, new_key_id
from schemas.identity import KeyRecord

SECRET = b"s3cret"
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _record(key: str, **kw: object) -> KeyRecord:
    values: dict[str, object] = {
        "key_id": new_key_id(),
        "key_hash": key_hash(SECRET, key),
        "team": "red",
        "time": NOW,
    }
    values.update(kw)
    return KeyRecord.model_validate(values)


def test_new_keys_are_random_and_well_formed() -> None:
    keys = {new_key() for _ in range(100)}
    assert len(keys) == 100 and all(looks_like_key(k) for k in keys)
    assert not looks_like_key("sk-" + new_key()[3:]) and not looks_like_key(new_key() + "x")
    # The stored hash depends on the server secret: another secret cannot check a key.
    k = new_key()
    assert key_hash(SECRET, k) != key_hash(b"other", k) and k not in key_hash(SECRET, k)


def test_authenticate_the_holder_only() -> None:
    reg = KeyRegistry(SECRET)
    key = new_key()
    rec = _record(key, user="ana")
    reg.apply(rec)
    ident = reg.authenticate(key, NOW)
    assert (ident.key_id, ident.team, ident.user) == (rec.key_id, "red", "ana")


@pytest.mark.parametrize(
    ("presented", "change", "message"),
    [
        (None, {}, "missing"),
        ("", {}, "missing"),
        ("sk-not-ours", {}, "malformed"),
        ("mt-short", {}, "malformed"),
        ("mt-" + "A" * 43, {}, "unknown"),
        ("KEY", {"disabled": True}, "disabled"),
        ("KEY", {"expires_at": NOW - timedelta(seconds=1)}, "expired"),
        ("KEY", {"expires_at": NOW}, "expired"),
    ],
)
def test_authenticate_refuses(
    presented: str | None, change: dict[str, object], message: str
) -> None:
    reg = KeyRegistry(SECRET)
    key = new_key()
    reg.apply(_record(key, **change))
    with pytest.raises(KeyInvalid, match=message) as info:
        reg.authenticate(key if presented == "KEY" else presented, NOW)
    assert info.value.status == 401 and key not in info.value.message


def test_newest_version_wins_in_any_order() -> None:
    key = new_key()
    v1 = _record(key)
    v2 = v1.model_copy(
        update={"disabled": True, "time": NOW + timedelta(seconds=1), "event_id": "z"}
    )
    for order in ([v1, v2], [v2, v1], [v2, v1, v2]):
        reg = KeyRegistry(SECRET)
        for r in order:
            reg.apply(r)
        assert reg.get(v1.key_id) == v2
        with pytest.raises(KeyInvalid, match="disabled"):
            reg.authenticate(key, NOW)


def test_rotation_retires_the_old_key() -> None:
    reg = KeyRegistry(SECRET)
    old, new = new_key(), new_key()
    v1 = _record(old)
    reg.apply(v1)
    reg.apply(v1.model_copy(update={"key_hash": key_hash(SECRET, new), "time": NOW + timedelta(1)}))
    assert reg.authenticate(new, NOW).key_id == v1.key_id
    with pytest.raises(KeyInvalid, match="unknown"):
        reg.authenticate(old, NOW)


@pytest.mark.parametrize(
    ("grants", "backend", "model", "reads_only", "allowed"),
    [
        ({}, "oai", "gpt-4o", False, True),
        ({"models": ["gpt-4o-mini*"]}, "oai", "gpt-4o-mini-2024", False, True),
        ({"models": ["gpt-4o-mini*"]}, "oai", "gpt-4o", False, False),
        ({"models": ["gpt-4o-mini*"]}, "oai", None, False, False),
        ({"models": ["gpt-4o-mini*"]}, "oai", None, True, True),
        ({"backends": ["oai"]}, "ant", "claude-3", False, False),
        ({"backends": ["oai"]}, "oai", "gpt-4o", False, True),
    ],
)
def test_authorize(
    grants: dict[str, list[str]], backend: str, model: str | None, reads_only: bool, allowed: bool
) -> None:
    reg = KeyRegistry(SECRET)
    key = new_key()
    reg.apply(_record(key, **grants))
    ident = reg.authenticate(key, NOW)
    if allowed:
        ident.authorize(backend, model, reads_only=reads_only)
    else:
        with pytest.raises(KeyForbidden) as info:
            ident.authorize(backend, model, reads_only=reads_only)
        assert info.value.status == 403


def test_prices_shipped_override_and_unknown() -> None:
    table = PriceTable.load()
    # gpt-4o-mini must not fall under the gpt-4o glob: most specific first.
    assert table.cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert table.cost("gpt-4o-2024-08-06", 1000, 500) == pytest.approx(0.0025 + 0.005)
    # OpenAI counts cached tokens inside input; Anthropic beside it.
    assert table.cost("gpt-4o", 1000, 0, 400) == pytest.approx((600 * 2.5 + 400 * 1.25) / 1e6)
    assert table.cost(
        "claude-sonnet-4-20250514", 1000, 0, 400, cached_in_input=False
    ) == pytest.approx((1000 * 3 + 400 * 0.3) / 1e6)
    assert table.cost("my-local-model", 10, 10) is None
    assert table.cost("gpt-4o", None, None) is None
    custom = PriceTable([ModelPrice(model="my-*", input=1, output=2), *table.prices])
    assert custom.cost("my-local-model", 1_000_000, 1_000_000) == pytest.approx(3.0)
