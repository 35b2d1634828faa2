"""Operator commands kept in a local file, where a broker restart cannot erase them.

The embedded stack's broker keeps everything in memory: when it restarts, the
kills and resumes operators issued through the control API are gone from
`session.commands`. `CommandJournal` keeps the latest operator command per
session in `path` (JSON lines, mode 0600, fsynced on every write: operator
commands are rare), loads it at start-up and hands it back for re-publishing
after a broker reset. Kills that expired and resumes older than `keep_s` are
dropped when the file is loaded, and the file is rewritten compacted.

One process per file (the proxy of the embedded stack); with the Redis session
store the kills are also kept in Redis.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from pathlib import Path

from schemas.codec import decode_as, encode
from schemas.errors import DecodeError
from schemas.events import SessionCommand, utcnow

__all__ = ["CommandJournal"]

log = logging.getLogger(__name__)


class CommandJournal:
    """Latest operator command per session, in a private append-only file."""

    def __init__(self, path: Path, *, keep_s: float = 7 * 86400.0) -> None:
        self.path = Path(path)
        self._keep = timedelta(seconds=keep_s)
        self._latest: dict[str, SessionCommand] = {}

    def load(self, now: datetime | None = None) -> list[SessionCommand]:
        """Read the file (skipping unreadable lines), prune it, return what is kept."""
        now = now or utcnow()
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            try:
                self._remember(decode_as(SessionCommand, line))
            except DecodeError:
                log.warning("command_journal_line_unreadable", extra={"path": str(self.path)})
        self._latest = {sid: c for sid, c in self._latest.items() if self._kept(c, now)}
        if len(lines) != len(self._latest):
            self._rewrite()
        return self.commands()

    def record(self, cmd: SessionCommand) -> None:
        """Keep `cmd` (the newest per session wins); durable when this returns."""
        if not self._remember(cmd):
            return
        self._append(encode(cmd) + b"\n")

    def commands(self) -> list[SessionCommand]:
        return sorted(self._latest.values(), key=lambda c: (c.time, c.event_id))

    def _remember(self, cmd: SessionCommand) -> bool:
        old = self._latest.get(cmd.session_id)
        if old is not None and (old.time, old.event_id) >= (cmd.time, cmd.event_id):
            return False
        self._latest[cmd.session_id] = cmd
        return True

    def _kept(self, cmd: SessionCommand, now: datetime) -> bool:
        if cmd.command == "kill":
            return cmd.active_at(now)
        return now - cmd.time < self._keep

    def _append(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _rewrite(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"".join(encode(c) + b"\n" for c in self.commands()))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
