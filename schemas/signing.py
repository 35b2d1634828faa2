"""HMAC signatures on session commands, with a key ring: the newest key signs, all verify.

Anyone who can write `session.commands` or the Redis mirror could otherwise
resume their own session. Every issuer (the streams worker, the control API)
signs; every reader (each proxy replica, the streams worker following resumes)
verifies and ignores what fails, counting and logging it.

The signature covers every field of the command except itself, as canonical
JSON (sorted keys, pydantic's JSON mode), so it survives a Kafka or Redis round
trip: `v1:<key id>:<hex HMAC-SHA256>`. Rotation: put the new key first in the
ring on every verifier and issuer; keep the old one after it until no command it
signed is still in force, then drop it.

The ring comes from `SigningSettings` (env `MODELTRAIL_SIGNING__*`): explicit keys,
or a key file (JSON, mode 0600) that is created with one random key on first
use, which is what `modeltrail up` and a single-machine install rely on.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.errors import SigningError
from schemas.events import SessionCommand

__all__ = [
    "CommandSigner",
    "SigningError",
    "SigningKey",
    "SigningSettings",
    "Verdict",
    "load_ring",
]

Verdict = Literal["ok", "unsigned", "unknown_key", "bad_signature"]
_VERSION = "v1"
_MIN_KEY_BYTES = 16


class SigningKey(BaseModel):
    """One key of the ring."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    key: SecretStr


class SigningSettings(BaseSettings):
    """Where the command-signing key ring comes from (env `MODELTRAIL_SIGNING__*`)."""

    model_config = SettingsConfigDict(env_prefix="MODELTRAIL_SIGNING__", extra="forbid")

    keys: list[SigningKey] = Field(
        default_factory=list, description="newest first: the first signs, all verify"
    )
    key_file: Path = Field(
        default=Path("./modeltrail-data/command-keys.json"),
        description="used when `keys` is empty; created (0600) with one random key if missing",
    )


@dataclass(frozen=True, slots=True)
class CommandSigner:
    """Sign with the first key of the ring, verify with any of them. Pure, no I/O."""

    ring: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.ring:
            raise SigningError("the command signing key ring is empty")
        for kid, key in self.ring:
            if len(key) < _MIN_KEY_BYTES:
                raise SigningError(f"signing key {kid!r} is shorter than {_MIN_KEY_BYTES} bytes")

    @classmethod
    def from_keys(cls, keys: list[SigningKey]) -> CommandSigner:
        return cls(tuple((k.id, k.key.get_secret_value().encode()) for k in keys))

    @property
    def key_id(self) -> str:
        """The id of the key that signs."""
        return self.ring[0][0]

    def sign(self, cmd: SessionCommand) -> SessionCommand:
        """A copy of `cmd` carrying the signature of the newest key."""
        kid, key = self.ring[0]
        mac = hmac.new(key, _canonical(cmd), hashlib.sha256).hexdigest()
        return cmd.model_copy(update={"signature": f"{_VERSION}:{kid}:{mac}"})

    def verify(self, cmd: SessionCommand) -> Verdict:
        """`ok` only when the signature is ours and matches every field."""
        if not cmd.signature:
            return "unsigned"
        version, _, rest = cmd.signature.partition(":")
        kid, _, mac = rest.partition(":")
        if version != _VERSION or not mac:
            return "bad_signature"
        key = next((k for i, k in self.ring if i == kid), None)
        if key is None:
            return "unknown_key"
        expected = hmac.new(key, _canonical(cmd), hashlib.sha256).hexdigest()
        return "ok" if hmac.compare_digest(expected, mac) else "bad_signature"


def _canonical(cmd: SessionCommand) -> bytes:
    fields = cmd.model_dump(mode="json", exclude={"signature"})
    return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)


def load_ring(settings: SigningSettings) -> CommandSigner:
    """The signer of the configured keys, else of the key file (created when missing).

    Raises:
        SigningError: the file is unreadable, readable by others, malformed or weak.
    """
    if settings.keys:
        return CommandSigner.from_keys(settings.keys)
    path = settings.key_file
    if not path.exists():
        _create(path)
    return CommandSigner.from_keys(_read(path))


def _create(path: Path) -> None:
    """Write a one-key ring atomically; a concurrent creator's file wins."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    ring = [{"id": f"k{secrets.token_hex(4)}", "key": secrets.token_urlsafe(32)}]
    fd, tmp = tempfile.mkstemp(prefix=".command-keys-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(orjson.dumps(ring, option=orjson.OPT_INDENT_2))
        try:
            os.link(tmp, path)  # atomic and never replaces: the first creator wins
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)


def _read(path: Path) -> list[SigningKey]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise SigningError(f"cannot read the command key file {path}: {exc}") from exc
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SigningError(
                f"the command key file {path} is accessible by other users "
                f"(mode {stat.S_IMODE(mode):o}); run `chmod 600 {path}`"
            )
        raw = f.read()
    try:
        items = orjson.loads(raw)
        keys = [SigningKey.model_validate(item) for item in items]
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        raise SigningError(f"the command key file {path} is not a JSON list of keys") from exc
    if not keys:
        raise SigningError(f"the command key file {path} holds no key")
    return keys
