"""Where the emitter's events go when the broker cannot take them: the spool.

`SpoolFront` owns the broker-down spool and the `wal` write-ahead log beside it.

Guarantees:
- A failed spool write is counted (`write_failures`, metric
  `modeltrail_proxy_spool_write_failures`) and never drops the batch: its
  records wait in memory (`unwritten`, at most `max_unwritten`, beyond that
  dropped and counted), first in line for the next write, and the write-ahead
  log is not committed past them until they are on disk.
- A full spool (`spool_max_bytes`) follows `on_spool_full`: the batch is dropped
  and counted, and with `fail_closed` `has_room()` stays false (the app answers
  503) until replay has shrunk the spool by a tenth.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Literal

from proxy.errors import SpoolError, SpoolFull
from proxy.spool import Spool, SpoolRecord
from proxy.wal import WriteAheadLog

__all__ = ["SpoolFront", "SpoolFullMode"]

log = logging.getLogger(__name__)

SpoolFullMode = Literal["fail_closed", "drop"]
Counter = Callable[[int], None]


class SpoolFront:
    """Spool writes with retry-in-memory, the size-cap policy and the write-ahead log."""

    def __init__(
        self,
        spool: Spool | None,
        wal: WriteAheadLog | None,
        *,
        on_full: SpoolFullMode,
        max_unwritten: int,
        drop: Counter,
        spooled: Counter,
        failed: Counter,
    ) -> None:
        self.spool = spool
        self.wal = wal
        self._on_full = on_full
        self._max_unwritten = max_unwritten
        self._drop, self._spooled, self._failed = drop, spooled, failed
        self.unwritten: list[SpoolRecord] = []
        self.full = False
        self._full_at = 0
        self.write_failures = 0

    def open(self) -> None:
        if self.spool is not None:
            self.spool.open()
        if self.wal is not None:
            self.wal.open()

    def close(self) -> None:
        if self.unwritten:
            log.error("spool_unwritten_at_stop", extra={"events": len(self.unwritten)})
            self._drop(len(self.unwritten))  # still in the write-ahead log, if any
            self.unwritten = []
        if self.spool is not None:
            self.spool.close()
        if self.wal is not None:
            self.wal.close()

    async def write(self, records: list[SpoolRecord]) -> bool:
        """Spool `records` after any left unwritten; False when they wait in memory."""
        assert self.spool is not None
        records = self.unwritten + records
        self.unwritten = []
        if not records:
            return True
        try:
            await asyncio.to_thread(self.spool.append, records)
        except SpoolFull:
            self.full = True
            self._full_at = self.spool.size
            log.error("spool_full", extra={"dropped": len(records), "policy": self._on_full})
            self._drop(len(records))
            self._hold_wal(False)
            return True
        except SpoolError as exc:
            self.write_failures += 1
            self._failed(1)
            keep = records[-self._max_unwritten :]
            if len(keep) < len(records):
                self._drop(len(records) - len(keep))
            self.unwritten = keep
            self._hold_wal(True)
            log.error("spool_write_failed", extra={"error": str(exc), "waiting": len(keep)})
            return False
        self._hold_wal(False)
        self._spooled(len(records))
        return True

    def has_room(self) -> bool:
        """False while a full spool refuses new requests (`on_spool_full=fail_closed`)."""
        if not self.full:
            return True
        spool = self.spool
        if spool is None or spool.size < self._full_at * 0.9:
            self.full = False
            return True
        return self._on_full == "drop"

    def log_event(self, record: SpoolRecord) -> None:
        """Write-ahead: called on the request path before the response completes."""
        if self.wal is not None:
            self.wal.write(record)

    def settled(self, n: int) -> None:
        """The next `n` logged events are acked, spooled or dropped."""
        if self.wal is not None and n:
            self.wal.done(n)

    async def recover(
        self, send: Callable[[list[SpoolRecord]], Awaitable[list[SpoolRecord]]]
    ) -> int:
        """Put what a killed process left in the write-ahead log first in line.

        Into the spool when there is one (replayed before any new event), else
        straight to the broker (`send` returns the records not acked, dropped and
        counted). Returns the number of events recovered.
        """
        if self.wal is None:
            return 0
        records, end = self.wal.recover()
        if records:
            if self.spool is not None:
                await asyncio.to_thread(self.spool.append, records)
                self._spooled(len(records))
            else:
                self._drop(len(await send(records)))
            log.warning("wal_recovered", extra={"events": len(records)})
        self.wal.commit(end)
        return len(records)

    def _hold_wal(self, held: bool) -> None:
        if self.wal is not None:
            self.wal.hold(held)
