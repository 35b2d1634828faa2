"""The server's key secret: from settings, else from a 0600 file created on first start."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import SecretStr

__all__ = ["key_secret"]


def key_secret(configured: SecretStr | None, path: Path) -> bytes:
    """The secret under which key hashes are computed (create `path` when missing)."""
    if configured is not None and configured.get_secret_value():
        return configured.get_secret_value().encode()
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(value)
    return value
