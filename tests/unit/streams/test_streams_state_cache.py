from __future__ import annotations

from streams.state import SessionState
from streams.state_cache import SessionStateCache
from tests.support.streams_fakes import T0, request

BASE = T0.timestamp()


def _state(n: int) -> SessionState:
    s = SessionState("s1")
    for i in range(n):
        s.observe(request("x"), BASE + i)
    s.mark("t", 0, n, f"e{n}")
    return s


def test_put_is_visible_at_once_but_reaches_the_table_only_on_flush() -> None:
    table: dict[bytes, bytes] = {}
    store = SessionStateCache(table)
    assert store.load("s1") is None
    store.put({"s1": _state(2)})
    assert store.load("s1") == _state(2) and table == {} and store.pending == 1
    assert store.flush() == 1 and store.pending == 0
    assert SessionState.from_bytes(table[b"s1"]) == _state(2)
    assert store.flush() == 0  # nothing changed since


def test_load_hands_out_a_copy() -> None:
    store = SessionStateCache({})
    store.put({"s1": _state(1)})
    copy = store.load("s1")
    assert copy is not None
    copy.observe(request("y"), BASE + 99)
    copy.mark("t", 0, 50, "e50")
    copy.remember("d9")
    assert store.load("s1") == _state(1)  # a batch that fails never leaks into the store


def test_reads_fall_back_to_the_table_and_reset_forgets_the_cache() -> None:
    table = {b"s1": _state(3).to_bytes()}
    store = SessionStateCache(table)
    assert store.load("s1") == _state(3)
    table[b"s1"] = _state(5).to_bytes()  # another worker owned it meanwhile
    assert store.load("s1") == _state(3)
    store.reset()
    assert store.load("s1") == _state(5)


def test_cache_is_bounded() -> None:
    table: dict[bytes, bytes] = {}
    store = SessionStateCache(table, max_cached=10)
    store.put({f"s{i}": SessionState(f"s{i}") for i in range(20)})
    store.flush()
    assert len(table) == 20 and len(store._cache) == 0
    assert store.load("s7") == SessionState("s7")


def _seen(
    sid: str, at: float, *, kill_expires: float | None = None, kill: bool = False
) -> SessionState:
    s = SessionState(sid)
    s.last_seen = at
    s.kill_active = kill or kill_expires is not None
    s.kill_expires = kill_expires
    return s


def test_idle_sessions_expire_and_ended_kills_are_reported_for_tombstones() -> None:
    table: dict[bytes, bytes] = {}
    store = SessionStateCache(table, ttl_s=60.0, max_cached=10)
    store.put({f"s{i}": _seen(f"s{i}", BASE) for i in range(50_000)})
    store.put({"ended": _seen("ended", BASE, kill_expires=BASE + 30)})
    store.put({"forever": _seen("forever", BASE, kill=True)})
    store.put({"long": _seen("long", BASE, kill_expires=BASE + 3600)})
    store.put({"busy": _seen("busy", BASE + 100)})
    store.flush()  # the cache is dropped (max_cached): expiry reads the table
    assert len(table) == 50_004
    assert store.sweep(BASE + 30) == [] and len(table) == 50_004  # nothing due yet
    ended = store.sweep(BASE + 80)
    assert ended == ["ended"]  # the permanent kill stays on session.commands
    assert set(table) == {b"long", b"busy"}
    assert store.tracked == 2
    assert store.sweep(BASE + 3700) == ["long"] and table == {}


def test_a_session_seen_again_is_rescheduled_not_expired() -> None:
    table: dict[bytes, bytes] = {}
    store = SessionStateCache(table, ttl_s=60.0)
    store.put({"s1": _seen("s1", BASE)})
    store.put({"s1": _seen("s1", BASE + 50)})
    store.flush()
    assert store.sweep(BASE + 80) == [] and b"s1" in table
    assert store.sweep(BASE + 130) == [] and table == {}


def test_reset_forgets_the_index_so_foreign_keys_are_never_deleted() -> None:
    table: dict[bytes, bytes] = {}
    store = SessionStateCache(table, ttl_s=1.0)
    store.put({"mine": _seen("mine", BASE)})
    store.reset()  # partitions revoked: the key may be another worker's now
    store.sweep(BASE + 100)
    assert b"mine" in table
