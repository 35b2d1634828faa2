"""The streams worker as a real process (`python -m streams`) on the real broker.

Events in -> violations out -> one kill command out; a poison message -> dead letter;
SIGKILL and restart -> the table state comes back from the changelog and the same
decision is never issued twice; a second worker joining mid-stream loses no event;
SIGTERM with the broker gone exits in bounded time; `processes: 2` runs two workers in one
group under a supervisor that stops them together.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from modeltrail.embedded.process import ManagedProcess, child_processes
from modeltrail.embedded.servers import BrokerProcess
from schemas.codec import decode, encode
from schemas.events import ChatMessage, DeadLetter, LLMRequest, SessionCommand, Violation
from schemas.settings import KafkaSettings
from streams.decisions import THRESHOLD_RULE_ID
from tests.support.polling import wait_until

AWS_KEY = "deploy with AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY please"
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"


def _request(session: str, text: str) -> LLMRequest:
    return LLMRequest(
        source="proxy-it",
        session_id=session,
        backend="fake",
        provider="openai",
        path="/v1/chat/completions",
        model="gpt-test",
        messages=[ChatMessage(role="user", content=text)],
        body_bytes=len(text),
    )


@pytest.fixture
def worker_factory(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> Iterator[Callable[..., ManagedProcess]]:
    """Start `python -m streams` for this test's topics; `.kill()`/`.stop()` as needed."""
    started: list[ManagedProcess] = []

    def start(app_id: str, bootstrap: str | None = None, **extra_env: str) -> ManagedProcess:
        log_path = tmp_path / f"worker-{len(started)}.log"
        env = {
            "MODELTRAIL_KAFKA__BOOTSTRAP_SERVERS": bootstrap or kafka_settings.bootstrap_servers,
            "MODELTRAIL_KAFKA__TOPIC_PREFIX": kafka_settings.topic_prefix,
            "MODELTRAIL_STREAMS__APP_ID": app_id,
            "MODELTRAIL_STREAMS__INSTANCE_ID": f"it-{len(started)}",
            "MODELTRAIL_STREAMS__DATA_DIR": str(tmp_path / "data"),
            "MODELTRAIL_STREAMS__COMMIT_INTERVAL_S": "0.2",
            **extra_env,
        }
        proc = ManagedProcess(
            "streams",
            [sys.executable, "-m", "streams"],
            log_path=log_path,
            env=env,
            ready=lambda: (
                b"Worker]: Ready" in log_path.read_bytes() if log_path.exists() else False
            ),
            start_timeout=60,
        )
        started.append(proc.start())
        return proc

    yield start
    for proc in started:
        proc.stop()


class Tail:
    """Reads output topics from the beginning, without a consumer group."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.consumer = AIOKafkaConsumer(
            *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", fetch_max_wait_ms=10
        )
        self.seen: list[tuple[str, bytes | None, bytes]] = []

    async def __aenter__(self) -> Tail:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def until(self, done: Callable[[], bool], within_s: float = 30.0) -> None:
        deadline = time.monotonic() + within_s
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {len(self.seen)} records")
            batch = await self.consumer.getmany(timeout_ms=100)
            for tp, records in batch.items():
                self.seen.extend((tp.topic, r.key, r.value) for r in records if r.value)

    def events(self, topic: str) -> list[object]:
        return [decode(v) for t, _, v in self.seen if t == topic]


def _json_logs(path: Path) -> list[dict[str, Any]]:
    """The worker's log lines, each parsed as JSON (fails on a line that is not)."""
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _state(tail: Tail, changelog: str, session: str) -> dict[str, object] | None:
    values = [v for t, k, v in tail.seen if t == changelog and k == session.encode()]
    return orjson.loads(values[-1]) if values else None


async def test_violations_kill_once_and_state_survives_sigkill(
    kafka_settings: KafkaSettings, worker_factory: Callable[..., ManagedProcess]
) -> None:
    topics = kafka_settings.topics
    app_id = f"it-{kafka_settings.topic_prefix.strip('.')}"
    changelog = f"{app_id}-sessions-changelog"
    worker = worker_factory(app_id)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        send = producer.send_and_wait
        for text in ("hello, how are you?", AWS_KEY):
            await send(topics.requests, encode(_request("s1", text)), key=b"s1")
        await send(topics.requests, b"\x00not an event", key=b"s1")
        attack = _request("s1", PRIVATE_KEY)
        await send(topics.requests, encode(attack), key=b"s1")
        await send(topics.requests, encode(_request("s2", "benign neighbour")), key=b"s2")

        tail = Tail(
            kafka_settings.bootstrap_servers,
            [topics.violations, topics.commands, topics.deadletter, changelog],
        )
        async with tail:
            await tail.until(
                lambda: (
                    (_state(tail, changelog, "s1") or {}).get("requests_total") == 3
                    and bool(tail.events(topics.deadletter))
                )
            )
            commands = tail.events(topics.commands)
            assert len(commands) == 1
            kill = commands[0]
            assert isinstance(kill, SessionCommand) and kill.command == "kill"
            assert kill.session_id == "s1" and kill.rule_id == THRESHOLD_RULE_ID
            assert kill.block_mode == "duration" and kill.expires_at is not None
            rules = [v.rule_id for v in tail.events(topics.violations) if isinstance(v, Violation)]
            assert "SEC-001" in rules and "SEC-011" in rules and THRESHOLD_RULE_ID in rules
            evidence = [
                e.excerpt
                for v in tail.events(topics.violations)
                if isinstance(v, Violation)
                for e in v.evidence
            ]
            assert evidence and not any("wJalrXUtnFEMI/K7MDENG" in e for e in evidence)
            (letter,) = tail.events(topics.deadletter)
            assert isinstance(letter, DeadLetter) and letter.offset == 2
            assert letter.topic == topics.requests and "undecodable" in letter.reason
            logs = _json_logs(worker.log_path)  # every line, faust's own included, is JSON
            assert any(r["logger"].startswith(("faust", "mode")) for r in logs)
            [killed] = [r for r in logs if r["event"] == "session_killed"]
            assert (killed["session_id"], killed["rule_id"]) == ("s1", THRESHOLD_RULE_ID)
            assert {"event": "dead_letter", "topic": topics.requests, "offset": 2}.items() <= {
                k: v for r in logs if r["event"] == "dead_letter" for k, v in r.items()
            }.items()

            # Crash: no clean shutdown, no final commit.
            worker.kill()
            worker_factory(app_id)

            # The same attack is replayed by a "retrying" proxy, and a new one arrives.
            await send(topics.requests, encode(attack), key=b"s1")
            await send(topics.requests, encode(_request("s1", AWS_KEY)), key=b"s1")
            await tail.until(
                lambda: (_state(tail, changelog, "s1") or {}).get("requests_total") == 5
            )
            state = _state(tail, changelog, "s1")
            assert state is not None and state["kill_active"] is True
            assert len(state["decisions"]) == 1  # type: ignore[arg-type]
            kills = [c for c in tail.events(topics.commands) if isinstance(c, SessionCommand)]
            assert len(kills) == 1, kills
            late = [v for v in tail.events(topics.violations) if isinstance(v, Violation)][-1]
            # the recovered risk score carried over: 60 + 60 + 25 + 60 (+ decay) > 60 alone
            assert late.risk_score is not None and late.risk_score > 150
    finally:
        await producer.stop()


async def test_sigterm_flushes_state_and_sighup_reloads_policy(
    kafka_settings: KafkaSettings, worker_factory: Callable[..., ManagedProcess]
) -> None:
    topics = kafka_settings.topics
    app_id = f"it-term-{kafka_settings.topic_prefix.strip('.')}"
    changelog = f"{app_id}-sessions-changelog"
    # No periodic commit during the test: only the shutdown can write the state.
    worker = worker_factory(app_id, MODELTRAIL_STREAMS__COMMIT_INTERVAL_S="3600")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topics.requests, encode(_request("s3", AWS_KEY)), key=b"s3")
        tail = Tail(kafka_settings.bootstrap_servers, [topics.violations, changelog])
        async with tail:
            await tail.until(lambda: bool(tail.events(topics.violations)))
            assert worker.proc is not None
            worker.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 20
            while b"policy_reloaded" not in worker.log_path.read_bytes():
                assert time.monotonic() < deadline, worker.tail()
                await asyncio.sleep(0.05)
            assert _state(tail, changelog, "s3") is None  # write-behind: nothing yet
            started = time.monotonic()
            assert worker.stop(timeout=20) == 0
            assert time.monotonic() - started < 20
            await tail.until(lambda: _state(tail, changelog, "s3") is not None)
            state = _state(tail, changelog, "s3")
            assert state is not None and state["requests_total"] == 1
    finally:
        await producer.stop()


async def test_a_second_worker_takes_over_partitions_without_losing_events(
    kafka_settings: KafkaSettings, worker_factory: Callable[..., ManagedProcess]
) -> None:
    """A rebalance mid-stream (suspend, revoke, recover, resume) judges every event.

    Regression test for issue 4: records fetched after faust's seek to the committed
    offsets but before it resumed (and so emptied) the agent queues were lost, a run of
    1 to 100+ events in about one run out of four (see `streams.faust_compat`)."""
    topics = kafka_settings.topics
    app_id = f"it-scale-{kafka_settings.topic_prefix.strip('.')}"
    worker_factory(app_id)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers, acks="all")
    await producer.start()
    expected: set[str] = set()
    tags: dict[str, str] = {}

    async def burst(n: int, tag: str) -> None:
        for i in range(n):
            sid = f"{tag}-{i % 12}"
            event = _request(sid, AWS_KEY)
            expected.add(event.event_id)
            meta = await (await producer.send(topics.requests, encode(event), key=sid.encode()))
            tags[event.event_id] = f"{sid}@{meta.partition}:{meta.offset}"
        await producer.flush()

    try:
        tail = Tail(kafka_settings.bootstrap_servers, [topics.violations])
        async with tail:

            def judged() -> set[str]:
                return {
                    v.subject_event_id
                    for v in tail.events(topics.violations)
                    if isinstance(v, Violation) and v.subject_event_id
                }

            await burst(150, "a")
            second = asyncio.get_running_loop().run_in_executor(None, worker_factory, app_id)
            while not second.done():  # keep producing while the group rebalances
                await burst(20, "b")
                await asyncio.sleep(0.1)
            await second
            await burst(150, "c")
            try:
                await tail.until(lambda: judged() >= expected, within_s=30)
            except AssertionError as exc:
                lost = sorted(tags[e] for e in expected - judged())
                runs: dict[str, list[int]] = {}
                for t in lost:
                    burst_part, _, offset = t.partition(":")
                    key = f"{burst_part.split('-')[0]}@{burst_part.split('@')[1]}"
                    runs.setdefault(key, []).append(int(offset))
                spans = {k: (min(v), max(v), len(v)) for k, v in runs.items()}
                raise AssertionError(f"{len(lost)} of {len(expected)} lost: {spans}") from exc
            assert len(expected) > 300
    finally:
        await producer.stop()


async def test_sigterm_exits_in_bounded_time_when_the_broker_is_gone(
    kafka_settings: KafkaSettings,
    worker_factory: Callable[..., ManagedProcess],
    broker_factory: Callable[..., BrokerProcess],
) -> None:
    """The final commit cannot reach a dead broker: the worker says so and exits non-zero
    within its shutdown timeout instead of hanging (the uncommitted events are replayed)."""
    broker = broker_factory()
    bootstrap = broker.address
    worker = worker_factory(
        "it-gone", bootstrap=bootstrap, MODELTRAIL_STREAMS__SHUTDOWN_TIMEOUT_S="3"
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        topics = kafka_settings.topics
        await producer.send_and_wait(topics.requests, encode(_request("s9", AWS_KEY)), key=b"s9")
        tail = Tail(bootstrap, [topics.violations])
        async with tail:
            await tail.until(lambda: bool(tail.events(topics.violations)))
    finally:
        await producer.stop()
    broker.kill()
    started = time.monotonic()
    code = worker.stop(timeout=30)
    elapsed = time.monotonic() - started
    assert code not in (0, None) and code != -signal.SIGKILL, worker.tail()
    assert elapsed < 15, f"{elapsed:.1f}s\n{worker.tail()}"
    assert b"shutdown_timeout" in worker.log_path.read_bytes(), worker.tail()


def _count_in(path: Path, needle: bytes) -> int:
    return path.read_bytes().count(needle)


def _all_gone(pids: dict[int, str]) -> bool:
    return not any(Path(f"/proc/{pid}").exists() for pid in pids)


def _ready_children(n: int, log_path: Path) -> Callable[[], bool]:
    def ready() -> bool:
        return log_path.exists() and log_path.read_bytes().count(b"Worker]: Ready") >= n

    return ready


async def test_processes_share_the_group_and_stop_together(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """`processes: 2`: both children judge (the group splits the partitions between them);
    SIGTERM stops both and the worker exits 0; a child that dies takes the worker down."""
    topics = kafka_settings.topics
    app_id = f"it-procs-{kafka_settings.topic_prefix.strip('.')}"
    env = {
        "MODELTRAIL_KAFKA__BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "MODELTRAIL_KAFKA__TOPIC_PREFIX": kafka_settings.topic_prefix,
        "MODELTRAIL_STREAMS__APP_ID": app_id,
        "MODELTRAIL_STREAMS__INSTANCE_ID": "it-procs",
        "MODELTRAIL_STREAMS__DATA_DIR": str(tmp_path / "data"),
        "MODELTRAIL_STREAMS__COMMIT_INTERVAL_S": "0.2",
        "MODELTRAIL_STREAMS__PROCESSES": "2",
    }

    def start(log_path: Path) -> ManagedProcess:
        proc = ManagedProcess(
            "streams",
            [sys.executable, "-m", "streams"],
            log_path=log_path,
            env=env,
            ready=_ready_children(2, log_path),
            start_timeout=90,
        )
        return proc.start()

    worker = start(tmp_path / "first.log")
    try:
        assert worker.pid is not None
        children = child_processes(worker.pid)
        assert len(children) == 2 and all("-m streams" in c for c in children.values())
        assert (tmp_path / "data" / "p0").is_dir() and (tmp_path / "data" / "p1").is_dir()
        producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers)
        await producer.start()
        expected: set[str] = set()
        tail = Tail(kafka_settings.bootstrap_servers, [topics.violations])
        try:
            async with tail:
                for i in range(60):  # sessions hash over every partition
                    event = _request(f"p-{i}", AWS_KEY)
                    expected.add(event.event_id)
                    await producer.send(topics.requests, encode(event), key=f"p-{i}".encode())
                await producer.flush()

                def judged() -> dict[str, str]:
                    return {
                        v.subject_event_id: v.source
                        for v in tail.events(topics.violations)
                        if isinstance(v, Violation) and v.subject_event_id
                    }

                await tail.until(lambda: judged().keys() >= expected, within_s=45)
                assert set(judged().values()) == {"it-procs-p0", "it-procs-p1"}
        finally:
            await producer.stop()
        os.kill(worker.pid, signal.SIGHUP)  # forwarded: each child reloads its policy
        await wait_until(
            lambda: _count_in(worker.log_path, b"policy_reloaded") == 2, 15, "both reloads"
        )
        started = time.monotonic()
        assert worker.stop(timeout=30) == 0, worker.tail()
        assert time.monotonic() - started < 20
        assert _all_gone(children)

        # one child killed: the supervisor stops the other and exits non-zero
        worker = start(tmp_path / "second.log")
        assert worker.pid is not None
        children = child_processes(worker.pid)
        assert len(children) == 2
        victim = min(children)
        os.kill(victim, signal.SIGKILL)
        assert worker.proc is not None
        code = await asyncio.get_running_loop().run_in_executor(None, worker.proc.wait, 30)
        assert code not in (0, None), worker.tail()
        assert _all_gone(children)
        assert b"streams_child_exited" in worker.log_path.read_bytes()
    finally:
        worker.stop()
