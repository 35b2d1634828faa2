"""`durability=wal` keeps what a SIGKILL would lose; a failed spool write never drops a batch;
a full spool follows `on_spool_full`.

No broker: the emitter points at a closed port (the broker-up path is covered by
tests/integration/test_proxy_wal_sigkill.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from modeltrail.embedded.process import free_port
from proxy.emitter import Emitter
from proxy.metrics import ProxyMetrics
from proxy.spool import Spool
from proxy.wal import WriteAheadLog
from schemas.codec import decode
from schemas.settings import KafkaSettings
from tests.support.polling import wait_until
from tests.support.session_events import numbered_request

_KILLED_CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    sys.path.insert(0, {root!r})
    from tests.support.session_events import numbered_request
    from proxy.emitter import Emitter
    from proxy.spool import Spool
    from proxy.wal import WriteAheadLog
    from schemas.settings import KafkaSettings

    async def main():
        wal = WriteAheadLog(Spool({wal!r})) if {durable!r} else None
        emitter = Emitter(
            KafkaSettings(bootstrap_servers="127.0.0.1:{port}", topic_prefix="t."),
            spool=Spool({spool!r}), wal=wal, request_timeout_ms=300, probe_interval_s=30,
        )
        await emitter.start()
        for i in range(25):
            assert emitter.publish(numbered_request(i))
        os.kill(os.getpid(), signal.SIGKILL)  # before the drain ever ran

    asyncio.run(main())
    """
)


def _kafka() -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", topic_prefix="t.")


def _spooled_ids(directory: Path) -> list[str]:
    spool = Spool(directory)
    spool.open()
    try:
        return [decode(v).request_id or "" for (_, _, v), _ in spool.read(1000)]
    finally:
        spool.close()


def _kill_child(tmp_path: Path, durable: bool) -> None:
    code = _KILLED_CHILD.format(
        root=str(Path(__file__).parents[3]),
        wal=str(tmp_path / "spool" / "wal"),
        spool=str(tmp_path / "spool"),
        durable=durable,
        port=free_port(),
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]


async def _restart(tmp_path: Path, durable: bool) -> Emitter:
    wal = WriteAheadLog(Spool(tmp_path / "spool" / "wal")) if durable else None
    emitter = Emitter(_kafka(), spool=Spool(tmp_path / "spool"), wal=wal, request_timeout_ms=300)
    await emitter.start()
    await emitter.stop()
    return emitter


async def test_wal_keeps_queued_events_across_a_sigkill(tmp_path: Path) -> None:
    _kill_child(tmp_path, durable=True)
    emitter = await _restart(tmp_path, durable=True)
    assert emitter.spooled == 25
    assert _spooled_ids(tmp_path / "spool") == [f"r-{i:05d}" for i in range(25)]
    # Recovered once: the log is settled, a second start finds nothing more.
    again = await _restart(tmp_path, durable=True)
    assert again.spooled == 0


async def test_memory_durability_loses_them_as_documented(tmp_path: Path) -> None:
    _kill_child(tmp_path, durable=False)
    emitter = await _restart(tmp_path, durable=False)
    assert emitter.spooled == 0
    assert _spooled_ids(tmp_path / "spool") == []


async def test_the_wal_is_settled_as_events_reach_the_spool(tmp_path: Path) -> None:
    wal = WriteAheadLog(Spool(tmp_path / "wal", fsync="never"))
    emitter = Emitter(
        _kafka(), spool=Spool(tmp_path / "spool", fsync="never"), wal=wal, gather_ms=1
    )
    await emitter.start()
    for i in range(30):
        assert emitter.publish(numbered_request(i))
    await wait_until(lambda: emitter.spooled == 30, interval_s=0.005)
    await wait_until(lambda: wal.spool.empty, interval_s=0.005)
    assert wal.spool.size == 0  # truncated once everything settled
    await emitter.stop()


async def test_a_failed_spool_write_is_counted_and_kept_not_dropped(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    metrics = ProxyMetrics()
    emitter = Emitter(_kafka(), spool=spool, gather_ms=1, request_timeout_ms=300, metrics=metrics)
    await emitter.start()
    log_fd = spool._file().fileno()  # point the log at a full disk
    real = os.dup(log_fd)
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, log_fd)  # every write now fails with ENOSPC
    for i in range(10):
        assert emitter.publish(numbered_request(i))
    await wait_until(lambda: emitter.stats()["spool_write_failures"] == 1, interval_s=0.005)
    assert emitter.dropped == 0 and emitter.spooled == 0
    assert emitter.stats()["spilling"] is True  # later events line up behind the kept ones
    assert metrics.registry.get_sample_value("modeltrail_proxy_spool_write_failures_total") == 1
    os.dup2(real, log_fd)  # the disk is back: the kept batch goes first, in order
    os.close(real)
    os.close(full)
    for i in range(10, 15):
        assert emitter.publish(numbered_request(i))
    await wait_until(lambda: emitter.spooled == 15, interval_s=0.005)
    await emitter.stop()
    assert emitter.dropped == 0
    assert _spooled_ids(tmp_path / "spool") == [f"r-{i:05d}" for i in range(15)]


async def test_a_full_spool_fails_closed_and_counts_drops(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", fsync="never", max_bytes=2_000)
    emitter = Emitter(
        _kafka(), spool=spool, gather_ms=1, request_timeout_ms=300, on_spool_full="fail_closed"
    )
    await emitter.start()
    i = 0
    while emitter.accepting() and i < 200:
        emitter.publish(numbered_request(i))
        i += 1
        await wait_until(lambda n=i: emitter.spooled + emitter.dropped == n, interval_s=0.002)
    assert not emitter.accepting()  # 503 for new requests
    assert emitter.stats()["spool_full"] is True
    assert emitter.dropped >= 1 and emitter.spooled + emitter.dropped == i
    assert spool.size <= 2_000
    await emitter.stop()


async def test_the_wal_is_fsynced_off_the_request_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    wal = WriteAheadLog(Spool(tmp_path / "wal", fsync="never"), fsync_interval_s=0.02)
    wal.open()
    try:
        wal.write(("t", b"k", b"v"))
        await wait_until(lambda: wal.spool.fileno() in synced, 5, "the periodic fsync")
    finally:
        wal.close()
