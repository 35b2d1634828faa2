from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sinks.errors import ConfigError, ObjectExists, ObjectStoreError
from sinks.object_store import LocalStore, parse_target


async def test_local_store_replaces_atomically_and_lists(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, fsync=True)
    await store.put("t/dt=2026-01-01/hour=00/a+0+0.parquet", b"one")
    await store.put("t/dt=2026-01-01/hour=00/a+0+0.parquet", b"two")
    await store.put("u/x.parquet", b"x")
    assert await store.get("t/dt=2026-01-01/hour=00/a+0+0.parquet") == b"two"
    assert await store.list("t/") == ["t/dt=2026-01-01/hour=00/a+0+0.parquet"]
    assert not await asyncio.to_thread(lambda: list(tmp_path.rglob(".tmp-*")))
    with pytest.raises(ObjectStoreError):
        await store.get("missing")


async def test_local_store_rejects_keys_outside_its_root(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        await LocalStore(tmp_path / "root").put("../escape", b"x")


async def test_unwritable_directory_is_a_retriable_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a dir")
    with pytest.raises(ObjectStoreError) as info:
        await LocalStore(tmp_path / "file").put("a/b", b"x")
    assert info.value.retriable


def test_parse_target() -> None:
    assert parse_target("s3://bucket/a/b/").root == "bucket"
    assert parse_target("s3://bucket/a/b/").prefix == "a/b"
    assert parse_target("s3://bucket").prefix == ""
    assert parse_target("file:///tmp/x").root == "/tmp/x"
    assert parse_target("./data").kind == "local"
    with pytest.raises(ConfigError):
        parse_target("gs://b/p")
    with pytest.raises(ConfigError):
        parse_target("s3:///p")


async def test_write_if_absent_never_replaces(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    await store.put("a/b.parquet", b"first", if_absent=True)
    with pytest.raises(ObjectExists):
        await store.put("a/b.parquet", b"second", if_absent=True)
    assert await store.get("a/b.parquet") == b"first"
    assert await store.exists("a/b.parquet") and not await store.exists("a/c.parquet")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["b.parquet"]  # no temp left
