"""A full emitter queue: `spool` spills to the spool in order, `fail_open` drops and counts,
`fail_closed` (tests/integration/test_proxy_queue_full.py) answers 503.

No broker: the emitter points at a closed port, so every event takes the
broker-down path (the broker-up path is tested in tests/integration).
"""

from __future__ import annotations

from pathlib import Path

from modeltrail.embedded.process import free_port
from proxy.emitter import Emitter
from proxy.spool import Spool
from schemas.codec import decode
from schemas.settings import KafkaSettings
from tests.support.polling import wait_until
from tests.support.session_events import numbered_request


def _kafka() -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", topic_prefix="t.")


def _emitter(mode: str, spool: Spool | None = None, queue_size: int = 4) -> Emitter:
    return Emitter(
        _kafka(),
        mode=mode,  # type: ignore[arg-type]
        spool=spool,
        queue_size=queue_size,
        gather_ms=20,
        request_timeout_ms=300,
        probe_interval_s=30,
    )


async def test_spool_mode_spills_a_full_queue_in_order(tmp_path: Path) -> None:
    emitter = _emitter("spool", Spool(tmp_path / "spool", fsync="never"))
    await emitter.start()
    assert not emitter.healthy
    # No await in between: the drain cannot keep up, the queue overflows after 4.
    assert all(emitter.publish(numbered_request(i)) for i in range(40))
    assert emitter.stats()["spilling"] is True
    await emitter.stop()
    assert emitter.dropped == 0 and emitter.spooled == 40

    spool = Spool(tmp_path / "spool")
    spool.open()
    try:
        records = spool.read(1000)
    finally:
        spool.close()
    ids = [decode(value).request_id for (_, _, value), _ in records]
    assert ids == [f"r-{i:05d}" for i in range(40)]


async def test_while_the_broker_is_down_spilled_bursts_stay_in_order(tmp_path: Path) -> None:
    emitter = _emitter("spool", Spool(tmp_path / "spool", fsync="never"))
    await emitter.start()
    for burst in range(5):
        for i in range(burst * 10, burst * 10 + 10):
            assert emitter.publish(numbered_request(i))
        # The drain writes the spilled burst to disk...
        await wait_until(lambda n=burst * 10 + 10: emitter.spooled == n, interval_s=0.005)
        # ...and spilling ends only once the spool has been replayed to a live broker.
        assert emitter.stats()["spilling"] is True
    await emitter.stop()
    spool = Spool(tmp_path / "spool")
    spool.open()
    try:
        ids = [decode(v).request_id for (_, _, v), _ in spool.read(1000)]
    finally:
        spool.close()
    assert ids == [f"r-{i:05d}" for i in range(50)]


async def test_fail_open_drops_and_counts_what_does_not_fit() -> None:
    emitter = _emitter("fail_open")
    results = [emitter.publish(numbered_request(i)) for i in range(10)]
    assert results == [True] * 4 + [False] * 6
    assert emitter.dropped == 6 and emitter.stats()["spilling"] is False
