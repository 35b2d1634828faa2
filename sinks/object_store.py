"""Where Parquet files go: a local directory or an S3 bucket. I/O only.

Both stores make a write atomic: a reader (or a replay) sees either the old
object or the whole new one, never a torn file. Local: write a temporary file in
the same directory, fsync, `os.replace`. S3: a single PUT, or a multipart upload
that only becomes visible when completed.

`put(..., if_absent=True)` never replaces an object: locally the temporary file
is hard-linked to its name (which fails when the name exists); on S3 the object
is checked with a HEAD first (and `If-None-Match: *` is sent, which AWS honours).
`sinks.publish` builds compare-before-overwrite on top of it.
"""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from sinks.errors import ConfigError, ObjectExists, ObjectStoreError
from sinks.settings import SinkSettings

__all__ = ["LocalStore", "ObjectStore", "S3Store", "Target", "open_store", "parse_target"]


@runtime_checkable
class ObjectStore(Protocol):
    """An object store the sink writes to; keys are `/`-separated relative paths."""

    async def put(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        """Write an object atomically (replace if present, unless `if_absent`).

        Raises ObjectExists (with `if_absent`) or ObjectStoreError.
        """
        ...

    async def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`; raises ObjectStoreError."""
        ...

    async def get(self, key: str) -> bytes:
        """Read an object; raises ObjectStoreError."""
        ...

    async def list(self, prefix: str) -> list[str]:
        """Every key starting with `prefix`, sorted; raises ObjectStoreError."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed target: `kind` local (root = directory) or s3 (root = bucket); keys get `prefix`."""

    kind: str
    root: str
    prefix: str

    @property
    def url(self) -> str:
        if self.kind == "s3":
            return f"s3://{self.root}/{self.prefix}".rstrip("/")
        return self.root


def parse_target(target: str) -> Target:
    """`s3://bucket/prefix`, `file:///dir` or a plain directory path."""
    if target.startswith("s3://"):
        bucket, _, prefix = target[5:].partition("/")
        if not bucket:
            raise ConfigError(f"no bucket in target {target!r}")
        return Target("s3", bucket, prefix.strip("/"))
    if target.startswith("file://"):
        target = target[7:]
    if "://" in target:
        raise ConfigError(f"unsupported target {target!r}: use a directory or s3://bucket/prefix")
    return Target("local", str(Path(target).expanduser().resolve()), "")


class LocalStore:
    """A directory; writes are temp file + fsync + atomic rename."""

    def __init__(self, root: str | Path, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.fsync = fsync

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ConfigError(f"key escapes the root: {key!r}")
        return path

    def _put(self, key: str, data: bytes, if_absent: bool) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                if self.fsync:
                    f.flush()
                    os.fsync(f.fileno())
            if if_absent:
                os.link(tmp, path)  # atomic, and fails when the name exists
                Path(tmp).unlink()
            else:
                os.replace(tmp, path)
            if self.fsync:
                _fsync_dir(path.parent)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def put(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        try:
            await asyncio.to_thread(self._put, key, data, if_absent)
        except FileExistsError as exc:
            raise ObjectExists(f"write {key}: exists") from exc
        except OSError as exc:
            raise ObjectStoreError(f"write {key}: {exc}") from exc

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except OSError as exc:
            raise ObjectStoreError(f"read {key}: {exc}") from exc

    def _list(self, prefix: str) -> list[str]:
        if not self.root.exists():
            return []
        out = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    out.append(key)
        return sorted(out)

    async def list(self, prefix: str) -> list[str]:
        try:
            return await asyncio.to_thread(self._list, prefix)
        except OSError as exc:
            raise ObjectStoreError(f"list {prefix}: {exc}") from exc

    async def close(self) -> None:
        return None


def _fsync_dir(path: Path) -> None:
    """Make a rename or link in `path` durable (the entry lives in the directory)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class S3Store:
    """An S3 bucket through boto3 (AWS, MinIO, SeaweedFS); multipart above a threshold."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        multipart_threshold: int = 16 * 1024 * 1024,
        timeout_s: float = 20.0,
    ) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        self._client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(
                connect_timeout=min(timeout_s, 5.0),
                read_timeout=timeout_s,
                retries={"max_attempts": 2, "mode": "standard"},
                s3={"addressing_style": "path"} if endpoint_url else None,
            ),
        )
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=max(multipart_threshold // 2, 5 * 1024 * 1024),
            max_concurrency=4,
        )

    async def put(self, key: str, data: bytes, *, if_absent: bool = False) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        def upload() -> None:
            if if_absent and self._exists(key):
                raise ObjectExists(f"put s3://{self.bucket}/{key}: exists")
            if if_absent and len(data) < self._transfer.multipart_threshold:
                self._client.put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*")
                return
            self._client.upload_fileobj(io.BytesIO(data), self.bucket, key, Config=self._transfer)

        try:
            await asyncio.to_thread(upload)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "PreconditionFailed":
                raise ObjectExists(f"put s3://{self.bucket}/{key}: exists") from exc
            raise ObjectStoreError(f"put s3://{self.bucket}/{key}: {exc}") from exc
        except (BotoCoreError, OSError) as exc:
            raise ObjectStoreError(f"put s3://{self.bucket}/{key}: {exc}") from exc

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    async def exists(self, key: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await asyncio.to_thread(self._exists, key)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise ObjectStoreError(f"head s3://{self.bucket}/{key}: {exc}") from exc

    async def get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        def download() -> bytes:
            body = self._client.get_object(Bucket=self.bucket, Key=key)["Body"]
            return bytes(body.read())

        try:
            return await asyncio.to_thread(download)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise ObjectStoreError(f"get s3://{self.bucket}/{key}: {exc}") from exc

    async def list(self, prefix: str) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        def keys() -> list[str]:
            out: list[str] = []
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                out.extend(obj["Key"] for obj in page.get("Contents", []))
            return sorted(out)

        try:
            return await asyncio.to_thread(keys)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise ObjectStoreError(f"list s3://{self.bucket}/{prefix}: {exc}") from exc

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)


def open_store(settings: SinkSettings) -> tuple[ObjectStore, Target]:
    """The store a sink's settings point at, and the parsed target (for its key prefix)."""
    target = parse_target(settings.target)
    if target.kind == "local":
        return LocalStore(target.root, fsync=settings.fsync), target
    secret = settings.s3_secret_access_key
    key_id = settings.s3_access_key_id
    store = S3Store(
        target.root,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=key_id.get_secret_value() if key_id else None,
        secret_access_key=secret.get_secret_value() if secret else None,
        multipart_threshold=settings.s3_multipart_threshold_bytes,
    )
    return store, target
