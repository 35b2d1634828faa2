"""The generated admin key: with no control keys configured, the control API is never open.

On first start the proxy writes a random admin key into a file only its owner can
read (mode 0600, directory 0700) under the data directory and logs where it is;
`modeltrail sessions`/`demo` read the same file. A key file other users can read
is refused, as ssh refuses a readable private key.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from pydantic import SecretStr

from proxy.control.errors import ControlConfigError
from proxy.settings import ControlKey

__all__ = ["ADMIN_KEY_ID", "ensure_admin_key", "read_key_file"]

ADMIN_KEY_ID = "generated-admin"


def read_key_file(path: Path) -> str | None:
    """The key in `path`, or None when there is no such file.

    Raises:
        ControlConfigError: the file is readable by group or others, or empty.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ControlConfigError(f"cannot read the control key file {path}: {exc}") from exc
    with os.fdopen(fd, "r", encoding="utf-8") as f:
        mode = os.fstat(f.fileno()).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ControlConfigError(
                f"the control key file {path} is accessible by other users "
                f"(mode {stat.S_IMODE(mode):o}); run `chmod 600 {path}`"
            )
        key = f.read().strip()
    if not key:
        raise ControlConfigError(f"the control key file {path} is empty")
    return key


def ensure_admin_key(path: Path) -> tuple[ControlKey, bool]:
    """The admin key stored in `path`, created (0600) when missing; (key, created)."""
    existing = read_key_file(path)
    if existing is not None:
        return _admin(existing), False
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = "mtc-" + secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:  # another process won the race: use its key
        existing = read_key_file(path)
        if existing is None:  # pragma: no cover - removed between the two calls
            raise ControlConfigError(f"the control key file {path} vanished") from None
        return _admin(existing), False
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(key + "\n")
    return _admin(key), True


def _admin(key: str) -> ControlKey:
    return ControlKey(id=ADMIN_KEY_ID, key=SecretStr(key), scopes=["admin"])
