"""Streams worker settings: env `MODELTRAIL_STREAMS__*` (nested with `__`), plus the shared
`MODELTRAIL_KAFKA__*` section. Built once in `streams.__main__` and passed down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.settings import KafkaSettings
from schemas.signing import SigningSettings
from schemas.telemetry import TracingSettings

__all__ = ["StreamsSettings"]


class StreamsSettings(BaseSettings):
    """Everything one streams worker needs."""

    model_config = SettingsConfigDict(
        env_prefix="MODELTRAIL_STREAMS__", env_nested_delimiter="__", extra="forbid"
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    signing: SigningSettings = Field(default_factory=SigningSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    app_id: str = Field(
        default="modeltrail-streams",
        description="faust app id: the consumer group and the changelog topics' prefix",
    )
    instance_id: str = Field(default="streams-1", description="`source`/`issuer` of events")

    # --- policy ---
    policy_preset: Literal["minimal", "standard", "strict"] = "standard"
    policy_files: list[Path] = Field(default_factory=list, description="custom policy YAML")

    # --- bounded state ---
    session_ttl_s: float = Field(
        default=86400.0,
        gt=0,
        description="a session's state is deleted this long after its last event (or after "
        "its kill ends, if later); an ended kill is tombstoned on session.commands",
    )
    sweep_interval_s: float = Field(default=30.0, gt=0, description="how often expiry runs")
    spend_days: int = Field(
        default=8, ge=1, description="UTC days of spend kept in the spend table (today included)"
    )
    spend_max_ids: int = Field(
        default=10_000,
        ge=1,
        description="ids per day, dimension and partition in the spend table; the spend of "
        "later ids is counted under `(other)`",
    )
    reset_check_s: float = Field(
        default=5.0,
        ge=0,
        description="how often the worker checks that the logs it read were not replaced "
        "(a broker restarted empty); on a reset it exits for a restart with fresh state. "
        "0: never",
    )

    # --- processes ---
    processes: int = Field(
        default=1,
        ge=1,
        le=64,
        description="worker processes (one core each) in this worker's consumer group; "
        "above 1, this process supervises them (streams.supervisor)",
    )
    process_index: int | None = Field(
        default=None,
        ge=0,
        description="set by the supervisor on its children: suffixes instance_id, data_dir "
        "and web_port so the processes do not collide",
    )

    # --- faust runtime ---
    data_dir: Path = Field(
        default=Path("./modeltrail-data/streams"),
        description="faust data dir; tables are in memory and recovered from changelogs",
    )
    web_enabled: bool = False
    web_port: int = 6066
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    judged_quiet_parts: int = Field(
        default=16_384,
        ge=0,
        description="parts judged without any signal, shared by every session of this worker "
        "(an agent's system prompt is judged once); 0 turns it off",
    )

    # --- batching and latency ---
    batch_size: int = Field(
        default=500, ge=1, description="most events judged per batch (whatever has arrived)"
    )
    batch_linger_ms: float = Field(
        default=2.0, ge=0, description="wait after a batch's first event (adds to kill latency)"
    )
    fetch_max_wait_ms: int = Field(
        default=10, ge=0, description="broker long-poll wait; small keeps kill latency low"
    )
    max_poll_records: int = Field(default=2000, ge=1)
    commit_interval_s: float = Field(
        default=2.8, gt=0, description="offset commit (and session table write-behind) interval"
    )
    producer_linger_ms: int = Field(default=0, ge=0)
    session_timeout_s: float = Field(
        default=6.0, gt=0, description="group session timeout; Tansu holds a join for half of it"
    )
    rebalance_timeout_s: float = Field(
        default=3.0, gt=0, description="how long a group join waits for other members"
    )
    shutdown_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="SIGTERM/SIGINT: longest wait for the final commit; past it (broker gone) "
        "the worker exits 1 and the uncommitted events are replayed by the next one",
    )
    recovery_delay_s: float = Field(
        default=0.0, ge=0, description="pause after table recovery before processing"
    )
    key_kill_after_sessions: int = Field(
        default=3,
        ge=0,
        description="kill a client key once this many of its sessions were killed within "
        "key_kill_window_s (0: never escalate)",
    )
    key_kill_window_s: float = Field(default=600.0, gt=0)

    def for_process(self) -> StreamsSettings:
        """This child's own settings: its instance id, data dir and web port (see `processes`)."""
        i = self.process_index
        if i is None:
            return self
        return self.model_copy(
            update={
                "instance_id": f"{self.instance_id}-p{i}",
                "data_dir": self.data_dir / f"p{i}",
                "web_port": self.web_port + i,
            }
        )
