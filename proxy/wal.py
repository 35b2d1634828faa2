"""The write-ahead log of the `wal` durability: events on disk before the answer.

`write` appends an event's record to a `Spool` with one `write(2)` and no
fsync, on the request path, before the response completes: the kernel holds it
from then on, so a SIGKILL or an OOM kill of the proxy cannot lose it (a
machine crash can lose what was written since the last `sync`, which the drain
calls after every batch under `spool_fsync=batch`).

The emitter hands events on in the order they were written. `done(n)` says the
next `n` of them are settled (acked by the broker, written to the broker-down
spool, or deliberately dropped); the log is committed up to the last settled
one, so what the log keeps is exactly what may still be only in memory.
`hold()` suspends commits while settled events wait in memory for a failed
spool write to be retried. At start `recover()` returns what a previous
process left unsettled, for the emitter to send or spool before anything else
(at-least-once: an event acked just before a crash is sent again; consumers
dedupe by `event_id`).
"""

from __future__ import annotations

import logging
from collections import deque

from proxy.errors import SpoolError
from proxy.spool import Spool, SpoolRecord

__all__ = ["WriteAheadLog"]

log = logging.getLogger(__name__)


class WriteAheadLog:
    """Append before answering, commit once settled; one per proxy process."""

    def __init__(self, spool: Spool, *, fsync: bool = True) -> None:
        self.spool = spool
        self._fsync = fsync
        self._ends: deque[int] = deque()
        self._settled = 0
        self._held = False
        self.failures = 0

    def open(self) -> None:
        self.spool.open()

    def close(self) -> None:
        self.spool.close()

    def recover(self) -> tuple[list[SpoolRecord], int]:
        """Records a previous process left unsettled, and the offset that settles them."""
        return self.spool.pending()

    def commit(self, offset: int) -> None:
        """Settle everything before `offset` (recovered records, once secured)."""
        self.spool.commit(offset)

    def write(self, record: SpoolRecord) -> None:
        """Append one event's record; a failure is counted and logged, never raised."""
        try:
            end = self.spool.append_nowait(record)
        except SpoolError as exc:
            self.failures += 1
            if self.failures == 1 or self.failures % 1000 == 0:
                log.error("wal_write_failed", extra={"error": str(exc), "failures": self.failures})
            end = self.spool.size  # nothing new written: settling it commits nothing extra
        self._ends.append(end)

    def done(self, n: int) -> None:
        """The next `n` written events are settled; commit unless held."""
        self._settled += n
        if not self._held:
            self._advance()

    def hold(self, held: bool) -> None:
        """Suspend (True) or resume (False) commits."""
        self._held = held
        if not held:
            self._advance()

    def sync(self) -> None:
        """fsync the log (a machine crash then loses nothing written before)."""
        if self._fsync and self.spool.pending_bytes:
            self.spool.sync()

    def _advance(self) -> None:
        n = min(self._settled, len(self._ends))
        if not n:
            return
        for _ in range(n - 1):
            self._ends.popleft()
        end = self._ends.popleft()
        self._settled -= n
        self.spool.commit(end)
