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
