"""Sink throughput: events/s and Parquet bytes/event for one sink process.

Produces N realistic events to a fresh set of topics on a broker (an embedded
Tansu broker unless --bootstrap is given), then times one in-process `Sink`
from its first record to the commit of the last file, writing to a local
directory, and (unless --no-s3) to S3 (an embedded SeaweedFS unless --s3-endpoint).

    python bench/sink_throughput.py --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from schemas import ChatMessage, KafkaSettings, LLMRequest, LLMResponse, encode, encode_key
from schemas.kafka import ensure_topics
from sinks.consumer import Sink
from sinks.settings import SinkSettings


def sample_events(n: int, sessions: int = 500) -> list[tuple[str, bytes, bytes]]:
    """(table, key, value) for n events: half requests, half responses."""
    out: list[tuple[str, bytes, bytes]] = []
    for i in range(n):
        sid = f"sess-{i % sessions:05d}"
        if i % 2 == 0:
            ev: LLMRequest | LLMResponse = LLMRequest(
                source="bench",
                session_id=sid,
                request_id=f"r{i}",
                backend="openai",
                provider="openai",
                path="/v1/chat/completions",
                model="gpt-4o-mini",
                client_ip="10.0.0.7",
                api_key_fingerprint="fp_0123456789abcdef",
                messages=[
                    ChatMessage(role="system", content="You are a helpful coding assistant."),
                    ChatMessage(role="user", content=f"Explain item {i} of the list, briefly."),
                ],
                max_tokens=256,
                temperature=0.2,
                body_bytes=240,
            )
            table = "requests"
        else:
            ev = LLMResponse(
                source="bench",
                session_id=sid,
                request_id=f"r{i - 1}",
                backend="openai",
                provider="openai",
                path="/v1/chat/completions",
                model="gpt-4o-mini",
                status_code=200,
                ttfb_ms=120.5,
                latency_ms=840.2,
                input_tokens=42,
                output_tokens=96,
                total_tokens=138,
                text=f"Item {i} is a short answer.",
                finish_reason="stop",
                body_bytes=512,
            )
            table = "responses"
        out.append((table, encode_key(ev), encode(ev)))
    return out


async def produce(kafka: KafkaSettings, events: list[tuple[str, bytes, bytes]]) -> float:
    """Send every event (acks=all, big batches); return events/s."""
    topics = {"requests": kafka.topics.requests, "responses": kafka.topics.responses}
    producer = AIOKafkaProducer(
        **kafka.client_kwargs(),  # type: ignore[arg-type]
        acks="all",
        linger_ms=20,
        max_batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    await producer.start()
    t0 = time.perf_counter()
    try:
        for i in range(0, len(events), 5000):
            futs = [
                await producer.send(topics[table], value, key=key)
                for table, key, value in events[i : i + 5000]
            ]
            await asyncio.gather(*futs)
    finally:
        await producer.stop()
    return len(events) / (time.perf_counter() - t0)


async def run_sink(settings: SinkSettings, n: int, timeout_s: float = 300) -> dict[str, float]:
    """Run a sink until n events are committed; return its figures."""
    sink = Sink(settings)
    task = asyncio.create_task(sink.run())
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    deadline = t_start + timeout_s
    t_first: float | None = None
    while sink.stats.events < n:
        if task.done():
            task.result()
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {sink.stats.events}/{n} events stored")
        if t_first is None and sink.stats.first_input is not None:
            t_first = sink.stats.first_input
        await asyncio.sleep(0.01)
    t_end = time.perf_counter()
    cpu = time.process_time() - cpu_start
    sink.stop()
    await task
    t_first = sink.stats.first_input or t_start
    return {
        "events_per_s": round(n / (t_end - t_first)),
        "bytes_per_event": round(sink.stats.bytes / n, 1),
        "files": sink.stats.files,
        # CPU of this process per event (all threads): what the sink costs
        # whatever the machine's load; 1e6 / it is the one-core ceiling.
        "cpu_us_per_event": round(cpu / n * 1e6, 2),
        "startup_s": round(t_first - t_start, 2),
    }


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    from modeltrail.embedded.servers import ensure_bucket, s3_gateway, tansu_broker

    work = Path(tempfile.mkdtemp(prefix="sinkbench-"))
    procs = []
    bootstrap = args.bootstrap
    if not bootstrap:
        broker = tansu_broker(None, work / "broker.log").start()
        procs.append(broker)
        bootstrap = broker.address
    try:
        events = sample_events(args.events)
        result: dict[str, object] = {"events": args.events}
        targets = [("local", str(work / "trail"))]
        if not args.no_s3:
            endpoint = args.s3_endpoint
            if not endpoint:
                s3 = s3_gateway(work / "seaweed", work / "s3.log").start()
                procs.append(s3)
                endpoint = s3.endpoint
            ensure_bucket(endpoint, "bench", access_key="bench", secret_key="bench")
            targets.append(("s3", f"s3://bench/{uuid.uuid4().hex[:8]}"))
        for name, target in targets:
            kafka = KafkaSettings(
                bootstrap_servers=bootstrap,
                topic_prefix=f"b{uuid.uuid4().hex[:8]}.",
                partitions=args.partitions,
            )
            await ensure_topics(kafka)
            result[f"produce_events_per_s_{name}"] = round(await produce(kafka, events))
            settings = SinkSettings(
                kafka=kafka,
                target=target,
                group_id=f"bench-{name}",
                idle_flush_s=0.25,
                s3_endpoint_url=args.s3_endpoint or (endpoint if name == "s3" else None),
                s3_access_key_id="bench" if name == "s3" else None,  # type: ignore[arg-type]
                s3_secret_access_key="bench" if name == "s3" else None,  # type: ignore[arg-type]
                max_rows=args.max_rows,
                dead_letter=False,
            )
            figures = await run_sink(settings, args.events)
            if name == "local":
                result.update(figures)
            else:
                result.update({f"s3_{k}": v for k, v in figures.items()})
        return result
    finally:
        for proc in procs:
            proc.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--max-rows", type=int, default=100_000)
    parser.add_argument("--bootstrap", default=None, help="an existing broker (host:port)")
    parser.add_argument("--s3-endpoint", default=None, help="an existing S3 endpoint")
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 figure")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>28}: {v}")
    sys.exit(0)


if __name__ == "__main__":
    main()
