from __future__ import annotations

import pytest
from typer.testing import CliRunner

from schemas import TABLES
from sinks.athena import athena_ddl
from sinks.settings import SinkSettings


def test_ddl_has_every_table_with_partition_projection() -> None:
    ddl = athena_ddl("s3://bucket/trail", database="audit")
    for table in TABLES:
        assert f"CREATE EXTERNAL TABLE IF NOT EXISTS `audit`.`{table}_raw`" in ddl
        assert f'CREATE OR REPLACE VIEW "audit"."{table}" AS' in ddl
        assert 'PARTITION BY event_id ORDER BY "$path") AS mt_copy' in ddl
        assert f"LOCATION 's3://bucket/trail/{table}/'" in ddl
        assert (
            f"'storage.location.template'='s3://bucket/trail/{table}/dt=${{dt}}/hour=${{hour}}/'"
            in ddl
        )
    assert ddl.count("'projection.enabled'='true'") == len(TABLES)
    assert (
        "`messages` array<struct<role:string,content:string,name:string,tool_call_id:string,kind:string>>"
        in ddl
    )
    assert "`time` timestamp" in ddl and "`max_tokens` bigint" in ddl


def test_ddl_needs_s3() -> None:
    with pytest.raises(ValueError):
        athena_ddl("/tmp/trail")
    from modeltrail.cmd_query import app

    out = CliRunner().invoke(app, ["athena-ddl", "--target", "s3://b/p"])
    assert out.exit_code == 0 and "PARTITIONED BY (`dt` string, `hour` string)" in out.output
    assert CliRunner().invoke(app, ["athena-ddl", "--target", "/tmp/x"]).exit_code == 2


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELTRAIL_SINK__TARGET", "s3://b/p")
    monkeypatch.setenv("MODELTRAIL_SINK__MAX_ROWS", "10")
    monkeypatch.setenv("MODELTRAIL_SINK__TABLES", '["requests"]')
    monkeypatch.setenv("MODELTRAIL_SINK__S3_SECRET_ACCESS_KEY", "hush")
    monkeypatch.setenv("MODELTRAIL_KAFKA__TOPIC_PREFIX", "x.")
    s = SinkSettings()
    assert (s.target, s.max_rows, s.tables, s.kafka.topic_prefix) == (
        "s3://b/p",
        10,
        ["requests"],
        "x.",
    )
    assert "hush" not in repr(s)
