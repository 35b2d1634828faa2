"""The emitter's partitioner picks the partition aiokafka's default partitioner picks."""

from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from proxy.broker_link import _CachedPartitioner, murmur2


def test_murmur2_is_aiokafkas_for_every_length_and_byte() -> None:
    rng = random.Random(7)
    keys = [b"", b"\x00", b"\xff\xff\xff", bytes(range(256))]
    keys += [rng.randbytes(n) for n in range(90) for _ in range(40)]
    for key in keys:
        assert murmur2(key) == aiokafka_murmur2(key), key


@pytest.mark.parametrize("count", [1, 2, 3, 7, 12])
def test_the_cached_partitioner_agrees_with_the_default(count: int) -> None:
    partitions = list(range(count))
    ours, default = _CachedPartitioner(max_keys=50), DefaultPartitioner()
    for n in range(300):
        key = f"mk_0000000000000b0c:session-{n % 120}".encode()
        assert ours(key, partitions, partitions) == default(key, partitions, partitions)
