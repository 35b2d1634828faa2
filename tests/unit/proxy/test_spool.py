"""The durable spool: order, acked commits, recovery from torn tails and corruption."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from proxy.errors import SpoolError, SpoolFull
from proxy.spool import Spool, SpoolRecord


def _recs(n: int, start: int = 0) -> list[SpoolRecord]:
    return [
        ("topic.a" if i % 2 else "topic.b", f"k{i}".encode(), b"v" * i)
        for i in range(start, start + n)
    ]


def test_append_read_commit_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.append(_recs(5))
    batch = spool.read(max_records=3)
    assert [r for r, _ in batch] == _recs(3)
    spool.commit(batch[-1][1])
    assert [r for r, _ in spool.read()] == _recs(2, start=3)
    assert spool.pending_bytes > 0
    spool.commit(spool.read()[-1][1])
    assert spool.empty and spool.pending_bytes == 0
    assert (tmp_path / "spool.log").stat().st_size == 0  # truncated once all is acked
    spool.close()


def test_reopen_resumes_from_the_acked_position(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.append(_recs(4))
    spool.commit(spool.read(max_records=1)[0][1])
    spool.close()
    again = Spool(tmp_path)
    again.open()
    assert [r for r, _ in again.read()] == _recs(3, start=1)
    again.close()


def test_torn_tail_is_cut_on_open(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.append(_recs(3))
    spool.close()
    log = tmp_path / "spool.log"
    whole = log.read_bytes()
    log.write_bytes(whole + whole[:9])  # a crash mid-write of a 4th record
    again = Spool(tmp_path)
    again.open()
    assert [r for r, _ in again.read()] == _recs(3)
    assert log.stat().st_size == len(whole)
    again.append(_recs(1, start=3))
    assert [r for r, _ in again.read()] == _recs(4)
    again.close()


def _corrupt(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_crc_error_is_quarantined_and_replay_goes_on(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.append(_recs(3))
    _corrupt(tmp_path / "spool.log", 12)  # inside the first record's payload
    batch = spool.read()
    assert [r for r, _ in batch] == _recs(2, start=1)
    spool.commit(batch[-1][1])
    assert spool.empty
    assert spool.quarantined == 1
    side = (tmp_path / "spool.quarantine").read_bytes()
    assert side.startswith(b"# offset 0 ") and b"k0" in side
    spool.close()


def test_a_bad_record_alone_does_not_stall_replay(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.append(_recs(1))
    spool.append(_recs(2, start=1))
    size_first = len((tmp_path / "spool.log").read_bytes()) // 3
    _corrupt(tmp_path / "spool.log", 9)
    assert [r for r, _ in spool.read()] == _recs(2, start=1)
    assert spool.pending_bytes < 3 * size_first + 10
    spool.close()


def test_corruption_in_the_middle_survives_a_reopen(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.append(_recs(3))
    spool.close()
    _corrupt(tmp_path / "spool.log", 12)
    again = Spool(tmp_path)
    again.open()  # today's main cut everything from the bad record on
    assert [r for r, _ in again.read()] == _recs(2, start=1)
    assert (tmp_path / "spool.quarantine").exists()
    again.close()


def test_spool_files_are_private(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        spool = Spool(tmp_path / "spool")
        spool.open()
        spool.append(_recs(2))
        spool.commit(spool.read(max_records=1)[0][1])
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "spool").stat().st_mode) == 0o700
    for name in ("spool.log", "spool.pos", "spool.lock"):
        assert stat.S_IMODE((tmp_path / "spool" / name).stat().st_mode) == 0o600, name
    spool.close()


def test_new_files_and_renames_fsync_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced_dirs: list[int] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            synced_dirs.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    spool = Spool(tmp_path)
    spool.open()  # creates spool.log
    assert len(synced_dirs) == 1
    spool.append(_recs(2))
    spool.commit(spool.read(max_records=1)[0][1])  # renames spool.pos into place
    assert len(synced_dirs) == 2
    spool.close()


def test_the_size_cap_refuses_a_batch_whole(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=200)
    spool.open()
    spool.append(_recs(3))
    size = spool.size
    with pytest.raises(SpoolFull):
        spool.append(_recs(5, start=3))
    assert spool.size == size == (tmp_path / "spool.log").stat().st_size
    assert [r for r, _ in spool.read()] == _recs(3)
    spool.close()


def test_a_busy_log_is_compacted_not_grown_forever(tmp_path: Path) -> None:
    spool = Spool(tmp_path, fsync="never", compact_bytes=300)
    spool.open()
    for i in range(50):
        spool.append(_recs(2, start=2 * i))
        spool.commit(spool.read(1000)[-2][1])  # the newest record always pending
    assert spool.size < 600
    assert [r for r, _ in spool.read(1000)] == _recs(1, start=99)
    spool.close()
    again = Spool(tmp_path)
    again.open()
    assert [r for r, _ in again.read(1000)] == _recs(1, start=99)
    again.close()


def test_large_record_and_closed_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path, fsync="never")
    spool.open()
    big: SpoolRecord = ("t", b"k", b"x" * 100_000)
    spool.append([big])
    assert spool.read(max_bytes=1000) == [(big, spool.pending_bytes)]
    spool.close()
    with pytest.raises(SpoolError):
        spool.append([big])


def test_one_process_per_spool_directory(tmp_path: Path) -> None:
    first = Spool(tmp_path)
    first.open()
    with pytest.raises(SpoolError, match="in use"):
        Spool(tmp_path).open()
    first.close()
    second = Spool(tmp_path)
    second.open()  # released on close
    second.close()
