"""The emitter's link to Kafka: one aiokafka producer, replaced whole on reconnect.

I/O only; the emitter decides what to do when a batch is not acked. Producer
settings: `acks="all"`, no idempotence (the Tansu broker lacks it), a short
linger, and the default partitioner memoised per key.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from proxy.spool import SpoolRecord
from schemas.kafka import ensure_topics
from schemas.settings import KafkaSettings

__all__ = ["BrokerLink"]


_M = 0x5BD1E995
_WORDS = struct.Struct("<I")


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (the Java client's `Utils.murmur2`), as aiokafka's `murmur2` computes it.

    The same arithmetic over whole little-endian words instead of byte by byte:
    half the time of aiokafka's pure-Python loop, and a new session's first
    event always pays it (`_CachedPartitioner` has not seen the key yet).
    """
    length = len(data)
    h = 0x9747B28C ^ length
    tail = length & ~3
    for (k,) in _WORDS.iter_unpack(data[:tail]):
        k = (k * _M) & 0xFFFFFFFF
        k ^= k >> 24
        h = ((h * _M) & 0xFFFFFFFF) ^ ((k * _M) & 0xFFFFFFFF)
    extra = length & 3
    if extra:
        if extra == 3:
            h ^= data[tail + 2] << 16
        if extra >= 2:
            h ^= data[tail + 1] << 8
        h = ((h ^ data[tail]) * _M) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * _M) & 0xFFFFFFFF
    return h ^ (h >> 15)


class _CachedPartitioner:
    """The default (murmur2, Java-compatible) partitioner, memoised per key.

    Keys are session ids, which repeat; a key not seen yet is hashed by the
    word-wise `murmur2` above, which `DefaultPartitioner` would compute byte by byte.
    """

    def __init__(self, max_keys: int = 100_000) -> None:
        self._default = DefaultPartitioner()
        self._cache: dict[tuple[bytes, int], int] = {}
        self._max = max_keys

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return int(self._default(key, all_partitions, available))
        slot = (key, len(all_partitions))
        hit = self._cache.get(slot)
        if hit is None:
            # DefaultPartitioner's choice for a key: the positive hash modulo the count.
            hit = all_partitions[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]
            if len(self._cache) >= self._max:
                self._cache.clear()
            self._cache[slot] = hit
        return hit


class BrokerLink:
    """Connect, send batches with per-record acks, probe; `close` is idempotent."""

    def __init__(self, kafka: KafkaSettings, *, linger_ms: int, timeout_ms: int) -> None:
        self.kafka = kafka
        self._linger_ms = linger_ms
        self._timeout_ms = timeout_ms
        self._partitioner = _CachedPartitioner()
        self._producer: AIOKafkaProducer | None = None

    @property
    def connected(self) -> bool:
        return self._producer is not None

    async def connect(self) -> bool:
        """Replace the producer with a fresh, started one and ensure the topics exist.

        A restarted in-memory broker has lost its topics and a stale producer its
        metadata, so reconnecting always starts over. False if the broker is down.
        """
        await self.close()
        producer = AIOKafkaProducer(
            **self.kafka.client_kwargs(),  # type: ignore[arg-type]
            acks="all",
            enable_idempotence=False,
            linger_ms=self._linger_ms,
            request_timeout_ms=self._timeout_ms,
            retry_backoff_ms=50,
            max_batch_size=256 * 1024,
            partitioner=self._partitioner,
        )
        try:
            await asyncio.wait_for(producer.start(), self._timeout_ms / 1000)
            await ensure_topics(self.kafka, timeout_s=self._timeout_ms / 1000)
        except (TimeoutError, KafkaError, OSError):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 2)
            return False
        self._producer = producer
        return True

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)

    async def send_batch(self, records: list[SpoolRecord]) -> list[SpoolRecord]:
        """Send and wait for every ack; return the records NOT acked, in order.

        Records are packed into one record batch per topic-partition (in order, so
        one key's records keep theirs), each acked as a whole: per-record `send`
        calls cost more CPU than building the event. A batch whose future failed
        is never sent later by the producer (it expired), so re-sending its
        records cannot duplicate them.
        """
        producer = self._producer
        if producer is None:
            return records
        try:
            # Partitions as `producer.send` sees them: same list, same partitioner.
            parts = {t: list(await producer.partitions_for(t)) for t in {r[0] for r in records}}
        except (TimeoutError, KafkaError):
            return records
        open_: dict[tuple[str, int], tuple[BatchBuilder, list[int]]] = {}
        batches: list[tuple[str, int, BatchBuilder, list[int]]] = []
        for i, (topic, key, value) in enumerate(records):
            part = self._partitioner(key, parts[topic], parts[topic])
            current = open_.get((topic, part))
            if current is None or current[0].append(key=key, value=value, timestamp=None) is None:
                builder = producer.create_batch()
                builder.append(key=key, value=value, timestamp=None)  # the first always fits
                current = open_[(topic, part)] = (builder, [])
                batches.append((topic, part, builder, current[1]))
            current[1].append(i)
        futures: list[asyncio.Future[object]] = []
        failed: list[int] = []
        for n, (topic, part, builder, _) in enumerate(batches):
            builder.close()
            try:
                futures.append(await producer.send_batch(builder, topic, partition=part))
            except (TimeoutError, KafkaError):
                failed.extend(i for *_, rest in batches[n:] for i in rest)
                break
        results = await asyncio.gather(*futures, return_exceptions=True)
        for (*_, members), res in zip(batches, results, strict=False):
            if isinstance(res, BaseException):
                failed.extend(members)
        return [records[i] for i in sorted(failed)]

    async def send_one(self, topic: str, key: bytes, value: bytes) -> None:
        """Send one record and wait for its ack; raises KafkaError."""
        producer = self._producer
        if producer is None:
            raise KafkaError("not connected")
        await (await producer.send(topic, value, key=key))

    async def probe(self) -> bool:
        """Whether any bootstrap server accepts a TCP connection (cheap, no Kafka request)."""
        for server in self.kafka.bootstrap_servers.split(","):
            host, _, port = server.strip().rpartition(":")
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection(host or "127.0.0.1", int(port)), 1.0
                )
            except (TimeoutError, OSError, ValueError):
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return True
        return False
