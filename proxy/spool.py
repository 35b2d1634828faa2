"""A durable, append-only local spool for events the broker could not take.

Layout in `dir`: `spool.log` holds records `[u32 length][u32 crc32][payload]`,
payload `[u16 topic length][topic][u32 key length][key][value]`; `spool.pos`
holds the byte offset up to which records are acked by the broker.

Guarantees:
- `append` writes whole records and (policy `batch`) fsyncs before returning,
  so a spooled event survives a process crash.
- Records are replayed in append order. `commit(offset)` is called only after
  the broker acked every record before `offset`; the position file is replaced
  atomically. When everything is acked the log is truncated to zero.
- One process per directory: `open` takes an exclusive lock (`spool.lock`).
- A torn record at the tail (crash mid-write) is detected by length/CRC on
  open and cut off; a record is never replayed twice within one process, and
  across a crash at most the records acked after the last commit are resent.
"""

from __future__ import annotations

import fcntl
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO, Literal

from proxy.errors import SpoolError

__all__ = ["Spool", "SpoolRecord"]

SpoolRecord = tuple[str, bytes, bytes]  # topic, key, value
_HEAD = struct.Struct(">II")
_TOPIC = struct.Struct(">H")
_KEY = struct.Struct(">I")


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


class Spool:
    """Append-only record log with an acked position; single writer, one process."""

    def __init__(self, directory: Path, *, fsync: Literal["batch", "never"] = "batch") -> None:
        self.dir = Path(directory)
        self.fsync = fsync
        self._log = self.dir / "spool.log"
        self._pos_path = self.dir / "spool.pos"
        self._fh: BinaryIO | None = None
        self._lock: BinaryIO | None = None
        self._size = 0
        self._pos = 0

    def open(self) -> None:
        """Create or recover the spool; cuts a torn tail. Idempotent."""
        if self._fh is not None:
            return
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            lock = open(self.dir / "spool.lock", "wb")
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                lock.close()
                raise SpoolError(f"spool {self.dir} is in use by another process") from exc
            self._lock = lock
            self._pos = self._read_pos()
            fh = open(self._log, "a+b")
            fh.seek(0, os.SEEK_END)
            self._size = fh.tell()
            if self._pos > self._size:
                self._pos = self._size
            valid = self._scan_valid_end(self._pos)
            if valid < self._size:
                fh.truncate(valid)
                self._size = valid
            self._fh = fh
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
    def empty(self) -> bool:
        return self._size == self._pos

    def append(self, records: list[SpoolRecord]) -> None:
        """Append records durably (fsync under the `batch` policy); raises SpoolError."""
        if not records:
            return
        fh = self._file()
        data = b"".join(_encode(r) for r in records)
        try:
            fh.write(data)
            fh.flush()
            if self.fsync == "batch":
                os.fsync(fh.fileno())
        except OSError as exc:
            raise SpoolError(f"spool write failed: {exc}") from exc
        self._size += len(data)

    def read(
        self, max_records: int = 500, max_bytes: int = 4 << 20
    ) -> list[tuple[SpoolRecord, int]]:
        """Unacked records from the acked position, each with the offset just after it."""
        if self.empty:
            return []
        out: list[tuple[SpoolRecord, int]] = []
        with open(self._log, "rb") as fh:
            fh.seek(self._pos)
            data = fh.read(min(max_bytes, self._size - self._pos))
        off = 0
        while len(out) < max_records and off + _HEAD.size <= len(data):
            length, crc = _HEAD.unpack_from(data, off)
            end = off + _HEAD.size + length
            if end > len(data):
                if not out:  # a single record larger than max_bytes
                    return self.read(max_records, max_bytes=_HEAD.size + length)
                break
            payload = data[off + _HEAD.size : end]
            if zlib.crc32(payload) != crc:
                raise SpoolError(f"spool record at {self._pos + off} fails its CRC")
            out.append((_decode(payload), self._pos + end))
            off = end
        return out

    def commit(self, offset: int) -> None:
        """Mark everything before `offset` as acked; truncates the log when all is acked."""
        if offset <= self._pos:
            return
        self._pos = min(offset, self._size)
        try:
            if self._pos == self._size:
                fh = self._file()
                fh.truncate(0)
                self._size = self._pos = 0
            self._write_pos(self._pos)
        except OSError as exc:
            raise SpoolError(f"spool commit failed: {exc}") from exc

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
        with open(tmp, "w") as fh:
            fh.write(str(pos))
            fh.flush()
            if self.fsync == "batch":
                os.fsync(fh.fileno())
        os.replace(tmp, self._pos_path)

    def _scan_valid_end(self, start: int) -> int:
        """Offset after the last whole, CRC-valid record from `start`."""
        off = start
        with open(self._log, "rb") as fh:
            fh.seek(start)
            data = fh.read()
        i = 0
        while i + _HEAD.size <= len(data):
            length, crc = _HEAD.unpack_from(data, i)
            end = i + _HEAD.size + length
            if end > len(data) or zlib.crc32(data[i + _HEAD.size : end]) != crc:
                break
            i = end
            off = start + i
        return off
