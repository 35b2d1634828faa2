"""The durable spool: order, acked commits, recovery from torn tails and corruption."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.errors import SpoolError
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


def test_corruption_is_an_error_not_silent_loss(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.append(_recs(3))
    log = tmp_path / "spool.log"
    data = bytearray(log.read_bytes())
    data[12] ^= 0xFF  # inside the first record's payload
    log.write_bytes(bytes(data))
    with pytest.raises(SpoolError, match="CRC"):
        spool.read()
    spool.close()


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
