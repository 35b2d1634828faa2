"""The local client key of `modeltrail up`: created on first start, kept 0600 in the data dir.

The file holds the key id and the key (the only place the key is kept, for the
user and `modeltrail demo`); its record is (re)written to `identity.keys` at
every start, since the embedded broker keeps topics in memory only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from proxy.keys.book import KeyBook
from proxy.keys.tokens import key_hash, looks_like_key, new_key, new_key_id
from schemas.identity import KeyRecord
from schemas.settings import KafkaSettings

__all__ = ["LOCAL_KEY_FILE", "LocalKey", "load_local_key", "local_key", "register_local_key"]

LOCAL_KEY_FILE = "local-key.json"
LOCAL_TEAM = "local"


@dataclass(frozen=True, slots=True)
class LocalKey:
    key_id: str
    key: str
    created: bool = False


def load_local_key(data_dir: Path) -> LocalKey | None:
    """The local key of a data dir, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads((data_dir / LOCAL_KEY_FILE).read_text())
        key_id, key = str(data["key_id"]), str(data["key"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return LocalKey(key_id, key) if looks_like_key(key) else None


def local_key(data_dir: Path) -> LocalKey:
    """The data dir's local key, created (mode 0600) when missing."""
    found = load_local_key(data_dir)
    if found is not None:
        return found
    data_dir.mkdir(parents=True, exist_ok=True)
    made = LocalKey(new_key_id(), new_key(), created=True)
    path = data_dir / LOCAL_KEY_FILE
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"key_id": made.key_id, "key": made.key}, f)
    return made


async def register_local_key(kafka: KafkaSettings, secret: bytes, key: LocalKey) -> None:
    """Write the local key's record (team `local`, no limits) to `identity.keys`."""
    book = KeyBook(kafka, secret)
    try:
        await book.write(
            KeyRecord(
                key_id=key.key_id,
                key_hash=key_hash(secret, key.key),
                team=LOCAL_TEAM,
                user="local",
                issuer="modeltrail-up",
            )
        )
    finally:
        await book.stop()
