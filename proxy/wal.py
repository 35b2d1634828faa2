"""The write-ahead log of the `wal` durability: events on disk before the answer.

`write` appends an event's record to a `Spool` with one `write(2)` and no
fsync, on the request path, before the response completes: the kernel holds it
from then on, so a SIGKILL or an OOM kill of the proxy cannot lose it. A machine
crash can lose what was written since the last fsync: a thread of the log's own
fsyncs it every `fsync_interval_s` (setting `wal_fsync_ms`; 0: never, the
kernel writes it back within its dirty-page expiry, ~30 s). Neither the request
path nor the drain waits for the disk, nor hands work to a thread per batch:
on a busy machine every such hand-off costs the request path a scheduling
delay (an fsync per batch through the executor showed in the concurrency-1 p50).

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
import os
import threading
from collections import deque

from proxy.errors import SpoolError
from proxy.spool import Spool, SpoolRecord

__all__ = ["WriteAheadLog"]

log = logging.getLogger(__name__)


class WriteAheadLog:
    """Append before answering, commit once settled; one per proxy process."""

    def __init__(self, spool: Spool, *, fsync_interval_s: float = 0.1) -> None:
        self.spool = spool
        self._interval = fsync_interval_s
        self._ends: deque[int] = deque()
        self._settled = 0
        self._held = False
        self.failures = 0
        self.sync_failures = 0
        self._written = self._synced = 0
        self._closing = threading.Event()
        self._syncer: threading.Thread | None = None

    def open(self) -> None:
        self.spool.open()
        if self._interval > 0 and self._syncer is None:
            self._closing.clear()
            self._syncer = threading.Thread(target=self._sync_loop, name="wal-fsync", daemon=True)
            self._syncer.start()

    def close(self) -> None:
        syncer, self._syncer = self._syncer, None
        if syncer is not None:
            self._closing.set()
            syncer.join(5)
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
            self._written += 1
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

    def _sync_loop(self) -> None:
        while not self._closing.wait(self._interval):
            written = self._written
            if written == self._synced:
                continue
            self._synced = written
            try:
                os.fsync(self.spool.fileno())
            except (OSError, ValueError, SpoolError):  # log swapped (compaction) or closed
                self.sync_failures += 1

    def _advance(self) -> None:
        n = min(self._settled, len(self._ends))
        if not n:
            return
        for _ in range(n - 1):
            self._ends.popleft()
        end = self._ends.popleft()
        self._settled -= n
        self.spool.commit(end)
