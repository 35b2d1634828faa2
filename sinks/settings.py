"""Sink settings: env `MODELTRAIL_SINK__*` (nested with `__`), plus the shared
`MODELTRAIL_KAFKA__*` section. Built once in `sinks.__main__`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.settings import KafkaSettings

__all__ = ["SinkSettings", "TrailLocation"]

TableName = Literal[
    "requests", "responses", "stream_windows", "violations", "session_commands", "deadletter"
]


def _default_tables() -> list[TableName]:
    return ["requests", "responses", "violations", "session_commands"]


class SinkSettings(BaseSettings):
    """Everything one sink process needs."""

    model_config = SettingsConfigDict(
        env_prefix="MODELTRAIL_SINK__", env_nested_delimiter="__", extra="forbid"
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    instance_id: str = Field(default="sink-1", description="`source` of dead letters it emits")

    # --- where files go ---
    target: str = Field(
        default="./modeltrail-data/trail", description="a local directory or s3://bucket/prefix"
    )
    s3_endpoint_url: str | None = Field(default=None, description="MinIO, SeaweedFS, ...")
    s3_region: str = "us-east-1"
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_multipart_threshold_bytes: int = Field(default=16 * 1024 * 1024, ge=5 * 1024 * 1024)
    fsync: bool = Field(default=True, description="local target: fsync before the rename")
    compression_level: int = Field(default=3, ge=1, le=22, description="zstd level")

    # --- what is read ---
    group_id: str = "modeltrail-sink"
    tables: list[TableName] = Field(default_factory=_default_tables)
    fetch_max_records: int = Field(default=20_000, ge=1)
    fetch_max_wait_ms: int = Field(
        default=1000,
        ge=0,
        description="broker long-poll wait. Kafka answers as soon as records are there, so "
        "it costs nothing while events flow; Tansu's s3 storage reads a fetch only until "
        "this deadline (it lists the partition's stored batches, then gets them one by "
        "one), so a short wait starves a sink that is behind: 50 ms read ~100 records "
        "per fetch where 500 ms read ~1,000, and a listing longer than the wait reads none",
    )
    session_timeout_ms: int = Field(default=10_000, ge=1_000)
    heartbeat_interval_ms: int = Field(default=1_000, ge=100)

    # --- file boundaries (deterministic: functions of the input only) ---
    max_rows: int = Field(default=200_000, ge=1, description="records per file")
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1, description="input bytes per file")
    max_span_s: float = Field(default=3600.0, gt=0, description="event-time span per file")
    idle_flush_s: float = Field(default=10.0, gt=0, description="flush a quiet partition")
    reset_check_s: float = Field(
        default=2.0,
        ge=0,
        description="how often to check that the logs read were not replaced (broker reset); "
        "a replaced log is read again from its start. 0: never",
    )
    max_open_s: float = Field(default=300.0, gt=0, description="flush a file open this long")

    # --- failure handling ---
    retry_initial_s: float = Field(default=0.2, gt=0)
    retry_max_s: float = Field(default=10.0, gt=0)
    dead_letter: bool = Field(default=True, description="send undecodable records to deadletter")
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"


class TrailLocation(BaseModel):
    """Where the Parquet trail is and how to reach it: all a reader of the trail needs.

    The sink's own settings carry the same fields (`TrailLocation.of`); the proxy's
    history API builds one from `history_path` and `history_s3_*`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: str = Field(description="a local directory or s3://bucket/prefix")
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None

    @classmethod
    def of(cls, settings: SinkSettings) -> TrailLocation:
        """The trail a sink writes."""
        return cls(
            target=settings.target,
            s3_endpoint_url=settings.s3_endpoint_url,
            s3_region=settings.s3_region,
            s3_access_key_id=settings.s3_access_key_id,
            s3_secret_access_key=settings.s3_secret_access_key,
        )
