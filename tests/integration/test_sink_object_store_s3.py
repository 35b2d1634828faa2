"""S3Store against SeaweedFS: multipart above the threshold, atomic replace, listing, errors."""

from __future__ import annotations

import os

import pytest

from sinks.errors import ObjectStoreError
from sinks.object_store import S3Store


def store_for(s3, **kw: object) -> S3Store:  # type: ignore[no-untyped-def]
    return S3Store(
        s3.bucket,
        endpoint_url=s3.endpoint,
        region=s3.region,
        access_key_id=s3.access_key,
        secret_access_key=s3.secret_key,
        **kw,  # type: ignore[arg-type]
    )


async def test_multipart_put_get_list_and_replace(s3_server, s3_prefix) -> None:  # type: ignore[no-untyped-def]
    store = store_for(s3_server, multipart_threshold=5 * 1024 * 1024)
    big = os.urandom(12 * 1024 * 1024 + 17)
    key = f"{s3_prefix}/requests/dt=2026-01-01/hour=00/t+0+0000000000000000000.parquet"
    await store.put(key, big)
    head = s3_server.client().head_object(Bucket=s3_server.bucket, Key=key)
    assert "-" in head["ETag"]  # a multipart upload's ETag carries the part count
    assert await store.get(key) == big
    await store.put(key, b"small")  # same key: replaced whole
    assert await store.get(key) == b"small"
    assert await store.list(f"{s3_prefix}/") == [key]
    await store.close()


async def test_missing_bucket_is_a_retriable_store_error(s3_server) -> None:  # type: ignore[no-untyped-def]
    store = store_for(s3_server)
    store.bucket = "no-such-bucket-here"
    with pytest.raises(ObjectStoreError) as info:
        await store.put("k", b"x")
    assert info.value.retriable
