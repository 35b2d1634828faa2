"""A durable, append-only local spool for events the broker could not take.

Layout in `dir` (mode 0700; every file 0600: the spool holds prompts):
`spool.log` holds records `[u32 length][u32 crc32][payload]`, payload
`[u16 topic length][topic][u32 key length][key][value]`; `spool.pos` holds the
byte offset up to which records are acked by the broker; `spool.quarantine`
receives records that fail their CRC, verbatim, for an operator to inspect.

Guarantees:
- `append` writes whole records and (policy `batch`) fsyncs the file, and the
  directory when the file is new, before returning, so a spooled event survives
  a process or machine crash. `append_nowait` (the write-ahead log of the
  `wal` durability) only writes: the record survives the process (SIGKILL,
  OOM) at once and a machine crash after the next `sync()`.
- `max_bytes` caps the log: an append that would pass it raises `SpoolFull`
  and writes nothing; the caller applies its policy (refuse or count drops).
- Records are replayed in append order. `commit(offset)` is called only after
  the broker acked every record before `offset`; the position file is replaced
  atomically (file and directory fsynced). When everything is acked the log is
  truncated to zero; once the acked prefix passes `compact_bytes` the unacked
  tail is copied to a fresh log, so an always-busy log does not grow forever.
- One process per directory: `open` takes an exclusive lock (`spool.lock`).
- `lazy_position` (the write-ahead log, on the request path's thread): the
  position file is written only when the log is truncated or compacted, and
  without fsync, so a commit costs no file write; after a crash the records
  acked since then are resent (at-least-once), never skipped.
- A torn record at the tail (crash mid-write) is moved to the quarantine file
  and cut off on open. A record in the middle that fails its CRC is moved to
  the quarantine file and skipped, on open and on read: replay goes on. A
  record is never replayed twice within one process, and across a crash at
  most the records acked after the last commit are resent.
"""

from __future__ import annotations

import fcntl
import os
import stat
import struct
import zlib
from pathlib import Path
from typing import BinaryIO, Literal, cast

from proxy.errors import SpoolError, SpoolFull

__all__ = ["Spool", "SpoolRecord"]

SpoolRecord = tuple[str, bytes, bytes]  # topic, key, value
_HEAD = struct.Struct(">II")
_TOPIC = struct.Struct(">H")
_KEY = struct.Struct(">I")
_FILE_MODE = 0o600
_DIR_MODE = 0o700


def _encode(rec: SpoolRecord) -> bytes:
    topic = rec[0].encode()
    payload = b"".join((_TOPIC.pack(len(topic)), topic, _KEY.pack(len(rec[1])), rec[1], rec[2]))
    return _HEAD.pack(len(payload), zlib.crc32(payload)) + payload


def _decode(payload: bytes) -> SpoolRecord:
    (tlen,) = _TOPIC.unpack_from(payload, 0)
    topic = payload[2 : 2 + tlen].decode()
    (klen,) = _KEY.unpack_from(payload, 2 + tlen)
    start = 6 + tlen
    return topic, payload[start : start + klen], payload[start + klen :]


def _open_private(path: Path, mode: str) -> BinaryIO:
    """Open (creating 0600) and tighten an existing file's mode too."""
    flags = os.O_RDWR | os.O_CREAT | (os.O_APPEND if "a" in mode else 0)
    flags |= os.O_TRUNC if "w" in mode else 0
    fd = os.open(path, flags, _FILE_MODE)
    if stat.S_ISREG(os.fstat(fd).st_mode):
        os.fchmod(fd, _FILE_MODE)
    return cast(BinaryIO, os.fdopen(fd, mode))


class Spool:
    """Append-only record log with an acked position; single writer, one process."""

    def __init__(
        self,
        directory: Path,
        *,
        fsync: Literal["batch", "never"] = "batch",
        max_bytes: int | None = None,
        compact_bytes: int = 64 << 20,
        lazy_position: bool = False,
    ) -> None:
        self.dir = Path(directory)
        self.fsync = fsync
        self.max_bytes = max_bytes
        self.compact_bytes = compact_bytes
        self._lazy = lazy_position
        self._pos_on_disk = -1
        self._log = self.dir / "spool.log"
        self._pos_path = self.dir / "spool.pos"
        self._quarantine_path = self.dir / "spool.quarantine"
        self._fh: BinaryIO | None = None
        self._lock: BinaryIO | None = None
        self._size = 0
        self._pos = 0
        self._quarantined: set[int] = set()
        self.quarantined = 0

    def open(self) -> None:
        """Create or recover the spool; quarantines a torn tail. Idempotent."""
        if self._fh is not None:
            return
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=_DIR_MODE)
            os.chmod(self.dir, _DIR_MODE)
            lock = _open_private(self.dir / "spool.lock", "wb")
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                lock.close()
                raise SpoolError(f"spool {self.dir} is in use by another process") from exc
            self._lock = lock
            self._pos = self._read_pos()
            created = not self._log.exists()
            fh = _open_private(self._log, "a+b")
            if created:
                self._sync_dir()
            fh.seek(0, os.SEEK_END)
            self._size = fh.tell()
            self._pos = min(self._pos, self._size)
            self._fh = fh
            self._recover()
        except OSError as exc:
            raise SpoolError(f"cannot open spool in {self.dir}: {exc}") from exc

    def close(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            fh.close()
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.close()  # releases the flock

    @property
    def pending_bytes(self) -> int:
        """Bytes appended but not yet acked."""
        return self._size - self._pos

    @property
    def size(self) -> int:
        """Bytes in the log, acked prefix included."""
        return self._size

    @property
    def empty(self) -> bool:
        return self._size == self._pos

    def append(self, records: list[SpoolRecord]) -> None:
        """Append records durably (fsync under the `batch` policy).

        Raises:
            SpoolFull: the batch would pass `max_bytes`; nothing was written.
            SpoolError: the write or the fsync failed.
        """
        if not records:
            return
        self._write(b"".join(_encode(r) for r in records))
        if self.fsync == "batch":
            self.sync()

    def append_nowait(self, record: SpoolRecord) -> int:
        """Write one record without fsync (it survives the process); its end offset."""
        self._write(_encode(record))
        return self._size

    def fileno(self) -> int:
        """The log's file descriptor (raises SpoolError when closed)."""
        return self._file().fileno()

    def sync(self) -> None:
        """fsync what was written; raises SpoolError."""
        try:
            os.fsync(self._file().fileno())
        except OSError as exc:
            raise SpoolError(f"spool fsync failed: {exc}") from exc

    def read(
        self, max_records: int = 500, max_bytes: int = 4 << 20
    ) -> list[tuple[SpoolRecord, int]]:
        """Unacked records from the acked position, each with the offset just after it.

        A record failing its CRC is quarantined and skipped; when only such
        records were found, the position moves past them.
        """
        if self.empty:
            return []
        out: list[tuple[SpoolRecord, int]] = []
        with open(self._log, "rb") as fh:
            fh.seek(self._pos)
            data = fh.read(min(max_bytes, self._size - self._pos))
        off = 0
        skipped_to = 0
        while len(out) < max_records and off + _HEAD.size <= len(data):
            length, crc = _HEAD.unpack_from(data, off)
            end = off + _HEAD.size + length
            if end > len(data):
                if self._pos + end > self._size:  # a length beyond the log: corrupt header
                    self._quarantine(self._pos + off, data[off:])
                    skipped_to = self._size - self._pos
                    break
                if not out:  # a single record larger than max_bytes
                    return self.read(max_records, max_bytes=_HEAD.size + length)
                break
            payload = data[off + _HEAD.size : end]
            if zlib.crc32(payload) != crc:
                self._quarantine(self._pos + off, data[off:end])
                skipped_to = end
            else:
                out.append((_decode(payload), self._pos + end))
            off = end
        if not out and skipped_to:
            self.commit(self._pos + skipped_to)
            return self.read(max_records, max_bytes)
        return out

    def pending(self) -> tuple[list[SpoolRecord], int]:
        """Every unacked record and the offset that acks them all (start-up recovery)."""
        with open(self._log, "rb") as fh:
            fh.seek(self._pos)
            data = fh.read(self._size - self._pos)
        records: list[SpoolRecord] = []
        i = 0
        while i + _HEAD.size <= len(data):
            length, crc = _HEAD.unpack_from(data, i)
            end = i + _HEAD.size + length
            if end > len(data):
                self._quarantine(self._pos + i, data[i:])
                break
            payload = data[i + _HEAD.size : end]
            if zlib.crc32(payload) == crc:
                records.append(_decode(payload))
            else:
                self._quarantine(self._pos + i, data[i:end])
            i = end
        return records, self._pos + len(data)

    def commit(self, offset: int) -> None:
        """Mark everything before `offset` as acked; truncates or compacts the log."""
        if offset <= self._pos:
            return
        self._pos = min(offset, self._size)
        try:
            if self._pos == self._size:
                self._file().truncate(0)
                self._size = self._pos = 0
                self._quarantined.clear()
            elif self._pos >= self.compact_bytes:
                self._compact()
            elif self._lazy:
                return  # a stale (lower) position only resends: see `lazy_position`
            if self._pos != self._pos_on_disk:
                self._write_pos(self._pos)
        except OSError as exc:
            raise SpoolError(f"spool commit failed: {exc}") from exc

    def _write(self, data: bytes) -> None:
        if self.max_bytes is not None and self._size + len(data) > self.max_bytes:
            raise SpoolFull(f"spool {self.dir} is full ({self._size} of {self.max_bytes} bytes)")
        fd = self._file().fileno()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError as exc:
            # A partial record is a torn tail: cut it so later appends stay readable.
            try:
                os.ftruncate(fd, self._size)
            except OSError:
                pass
            raise SpoolError(f"spool write failed: {exc}") from exc
        self._size += len(data)

    def _compact(self) -> None:
        """Copy the unacked tail to a fresh log and swap it in (atomic rename)."""
        fh = self._file()
        fh.seek(self._pos)
        tail = fh.read(self._size - self._pos)
        tmp = self._log.with_suffix(".compact")
        with _open_private(tmp, "wb") as out:
            out.write(tail)
            out.flush()
            if self.fsync == "batch":
                os.fsync(out.fileno())
        os.replace(tmp, self._log)
        self._sync_dir()
        fh.close()
        self._fh = _open_private(self._log, "a+b")
        self._size, self._pos = len(tail), 0
        self._quarantined.clear()

    def _file(self) -> BinaryIO:
        if self._fh is None:
            raise SpoolError("spool is not open")
        return self._fh

    def _read_pos(self) -> int:
        try:
            return int(self._pos_path.read_text().strip() or 0)
        except FileNotFoundError:
            return 0
        except ValueError as exc:
            raise SpoolError(f"corrupt spool position file {self._pos_path}") from exc

    def _write_pos(self, pos: int) -> None:
        tmp = self._pos_path.with_suffix(".tmp")
        with _open_private(tmp, "wb") as fh:
            fh.write(str(pos).encode())
            fh.flush()
            if self.fsync == "batch":
                os.fsync(fh.fileno())
        os.replace(tmp, self._pos_path)
        if self.fsync == "batch":
            self._sync_dir()
        self._pos_on_disk = pos

    def _sync_dir(self) -> None:
        """fsync the directory: a new or renamed file's entry survives a crash."""
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _quarantine(self, at: int, raw: bytes) -> None:
        """Keep a corrupt record's bytes in the side file (once per offset)."""
        if at in self._quarantined:
            return
        self._quarantined.add(at)
        self.quarantined += 1
        head = f"# offset {at} length {len(raw)}\n".encode()
        with _open_private(self._quarantine_path, "ab") as fh:
            fh.write(head + raw + b"\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _recover(self) -> None:
        """Quarantine corrupt records after the acked position; cut a torn tail."""
        with open(self._log, "rb") as fh:
            fh.seek(self._pos)
            data = fh.read()
        i = 0
        while i + _HEAD.size <= len(data):
            length, crc = _HEAD.unpack_from(data, i)
            end = i + _HEAD.size + length
            if end > len(data):
                break
            if zlib.crc32(data[i + _HEAD.size : end]) != crc:
                self._quarantine(self._pos + i, data[i:end])
            i = end
        if i < len(data):
            self._quarantine(self._pos + i, data[i:])
            self._file().truncate(self._pos + i)
            self._size = self._pos + i
