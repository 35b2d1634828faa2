from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import StreamsSettings


def test_env_configures_worker_and_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELTRAIL_KAFKA__BOOTSTRAP_SERVERS", "k1:9092")
    monkeypatch.setenv("MODELTRAIL_KAFKA__TOPIC_PREFIX", "prod.")
    monkeypatch.setenv("MODELTRAIL_STREAMS__APP_ID", "judge-7")
    monkeypatch.setenv("MODELTRAIL_STREAMS__POLICY_PRESET", "strict")
    monkeypatch.setenv("MODELTRAIL_STREAMS__POLICY_FILES", '["a.yaml", "b.yaml"]')
    monkeypatch.setenv("MODELTRAIL_STREAMS__BATCH_SIZE", "64")
    s = StreamsSettings()
    assert s.kafka.bootstrap_servers == "k1:9092" and s.kafka.topics.requests == "prod.llm.requests"
    assert (s.app_id, s.policy_preset, s.batch_size) == ("judge-7", "strict", 64)
    assert s.policy_files == [Path("a.yaml"), Path("b.yaml")]
    assert s.web_enabled is False


def test_nested_kafka_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELTRAIL_STREAMS__KAFKA__BOOTSTRAP_SERVERS", "k2:9092")
    assert StreamsSettings().kafka.bootstrap_servers == "k2:9092"


def test_rejects_unknown_preset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELTRAIL_STREAMS__POLICY_PRESET", "paranoid")
    with pytest.raises(ValueError, match="policy_preset"):
        StreamsSettings()


def test_each_process_gets_its_own_identity_dir_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELTRAIL_STREAMS__PROCESSES", "2")
    monkeypatch.setenv("MODELTRAIL_STREAMS__DATA_DIR", "/var/lib/streams")
    supervisor = StreamsSettings()
    assert supervisor.for_process() is supervisor  # not a child: unchanged
    monkeypatch.setenv("MODELTRAIL_STREAMS__PROCESS_INDEX", "1")
    child = StreamsSettings().for_process()
    assert (child.instance_id, child.data_dir, child.web_port) == (
        "streams-1-p1",
        Path("/var/lib/streams/p1"),
        6067,
    )
    assert child.app_id == supervisor.app_id  # one consumer group


def test_processes_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELTRAIL_STREAMS__PROCESSES", "0")
    with pytest.raises(ValueError, match="processes"):
        StreamsSettings()
