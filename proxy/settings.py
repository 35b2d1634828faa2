"""Proxy settings: env `MODELTRAIL_PROXY__*` (nested with `__`), plus the shared
`MODELTRAIL_KAFKA__*` and `MODELTRAIL_REDIS__*` sections. Built once in `proxy.__main__`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from proxy.keys.limits import Limits
from proxy.pii.settings import PIISettings
from schemas.settings import KafkaSettings, RedisSettings
from schemas.signing import SigningSettings
from schemas.telemetry import TracingSettings

__all__ = ["BackendConfig", "ControlKey", "ProxySettings"]


class BackendConfig(BaseModel):
    """One model backend the proxy can route to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    url: str = Field(description="base URL; its own path is kept, e.g. https://host/openai")
    provider: Literal["openai", "anthropic", "ollama", "passthrough"] = "openai"
    api_key: SecretStr | None = Field(default=None, description="injected when set")
    models: list[str] = Field(default_factory=list, description="model globs routed here")
    path_prefix: str | None = Field(default=None, description="e.g. /anthropic; stripped")


class ControlKey(BaseModel):
    """A bearer key for the control API and the scopes it grants."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    key: SecretStr
    scopes: list[Literal["read", "kill", "admin"]] = Field(default=["read"])


class ProxySettings(BaseSettings):
    """Everything the proxy process needs."""

    model_config = SettingsConfigDict(
        env_prefix="MODELTRAIL_PROXY__", env_nested_delimiter="__", extra="forbid"
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    signing: SigningSettings = Field(default_factory=SigningSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    instance_id: str = Field(default="proxy-1", description="`source` of emitted events")

    # --- forwarding, capture, emission (proxy core) ---
    host: str = Field(default="127.0.0.1", description="0.0.0.0 to serve other machines")
    port: int = 8080
    backends: list[BackendConfig] = Field(default_factory=list)
    default_backend: str | None = None
    max_body_bytes: int = 10 * 1024 * 1024
    upstream_timeout_s: float = 300.0
    connect_timeout_s: float = 5.0
    capture: Literal["all", "flagged_only", "metadata_only"] = "all"
    capture_max_bytes: int = 64 * 1024
    session_header: str = "x-session-id"
    session_idle_s: float = 1800.0
    trusted_proxies: list[str] = Field(default_factory=list, description="CIDRs")
    key_salt: SecretStr = Field(
        default=SecretStr("modeltrail-default-salt"),
        description="fingerprint salt; the default is public and refused off loopback",
    )
    allow_open_relay: bool = Field(
        default=False,
        description="allow listening beyond loopback while injecting backend API keys "
        "with no client authentication (only behind your own authentication)",
    )
    queue_size: int = 10_000
    on_broker_down: Literal["spool", "fail_closed", "fail_open"] = "spool"
    spool_dir: Path = Path("./modeltrail-data/spool")
    spool_fsync: Literal["batch", "never"] = Field(
        default="batch", description="fsync each spooled batch (survives a crash) or never"
    )
    spool_max_bytes: int = Field(
        default=1 << 30, gt=0, description="cap of the spool (and of the write-ahead log)"
    )
    on_spool_full: Literal["fail_closed", "drop"] = Field(
        default="fail_closed",
        description="spool at its cap: refuse new requests (503) or drop events (counted)",
    )
    wal_fsync_ms: int = Field(
        default=100,
        ge=0,
        description="wal: fsync the log this often off the request path (a machine crash "
        "loses at most this window; a process crash nothing); 0: never",
    )
    durability: Literal["memory", "wal"] = Field(
        default="memory",
        description="memory: queued events live in memory until the broker acks them (a "
        "SIGKILL loses them); wal: each event is written to a log under spool_dir before "
        "the response completes and replayed at start (a SIGKILL loses nothing acknowledged)",
    )
    stream_window_chars: int = 2048
    stream_window_overlap: int = 128
    upstream_max_connections: int = Field(
        default=16_384,
        ge=1,
        description="open connections per backend origin (live streams hold one each); "
        "beyond it a request waits upstream_pool_timeout_s, then 503 upstream_pool_exhausted",
    )
    upstream_pool_timeout_s: float = Field(
        default=30.0, gt=0, description="wait for a free connection slot (not the connect)"
    )
    emit_linger_ms: int = Field(default=5, description="producer linger: batching vs latency")
    emit_gather_ms: float = Field(
        default=3.0, ge=0, description="the drain waits this long after the first event"
    )
    emit_timeout_ms: int = Field(
        default=3000,
        description="broker ack timeout before events divert to the broker-down policy",
    )
    inline_policy: bool = Field(
        default=True,
        description="judge each request with the policy engine before forwarding; `block` "
        "and `kill` decisions answer 403 in enforce mode",
    )
    passthrough: Literal["inspect", "deny", "allow"] = Field(
        default="inspect",
        description="a request on no known API path: `inspect` judges a JSON or text body as "
        "a whole, `deny` answers 403, `allow` forwards it unjudged",
    )
    judged_max_sessions: int = Field(
        default=10_000, ge=1, description="sessions whose judged parts the inline check remembers"
    )
    judged_parts_per_session: int = Field(
        default=256, ge=1, description="part hashes remembered per session (oldest dropped)"
    )
    judged_quiet_parts: int = Field(
        default=16_384,
        ge=0,
        description="hashes of parts judged without any signal, shared by every session "
        "(an agent's system prompt and tools are judged once); 0 turns it off",
    )
    inline_offload_bytes: int = Field(
        default=64 * 1024,
        ge=0,
        description="bodies larger than this are parsed and judged on a worker thread, "
        "so a large body never holds the event loop",
    )
    policy_preset: Literal["minimal", "standard", "strict"] = "standard"
    policy_files: list[Path] = Field(default_factory=list, description="custom policy YAML")
    pii: PIISettings = Field(
        default_factory=PIISettings, description="PII transform before the backend (issue 14)"
    )

    # --- enforcement, session store, control API ---
    session_store: Literal["memory", "redis"] = "memory"
    control_host: str = "127.0.0.1"
    control_port: int = 9090
    control_keys: list[ControlKey] = Field(
        default_factory=list,
        description="bearer keys; none: an admin key is generated into control_key_file",
    )
    control_key_file: Path = Field(
        default=Path("./modeltrail-data/control.key"),
        description="where the generated admin key lives (0600) when no keys are configured",
    )
    control_allowed_hosts: list[str] = Field(
        default=["127.0.0.1", "localhost", "[::1]"],
        description="Host header values the control API answers (`*.example.com`, or `*`); "
        "control_host is added when it is a specific address",
    )
    history_path: str = Field(
        default="./modeltrail-data/trail",
        description="Parquet trail the history API reads: a directory or s3://bucket/prefix",
    )
    history_s3_endpoint_url: str | None = Field(default=None, description="MinIO, SeaweedFS, ...")
    history_s3_region: str = "us-east-1"
    history_s3_access_key_id: SecretStr | None = None
    history_s3_secret_access_key: SecretStr | None = None
    session_ttl_s: float = Field(
        default=7 * 86400.0, gt=0, description="how long an idle session's record is kept"
    )
    memory_max_sessions: int = Field(
        default=100_000, ge=1, description="memory store: least recently seen evicted beyond"
    )
    observe_queue_size: int = Field(
        default=10_000, ge=1, description="session bookkeeping queue; overflow is counted"
    )
    enforcement_replay_timeout_s: float = Field(
        default=30.0, gt=0, description="start-up replay of session.commands must end by then"
    )
    enforcement_replay_required: bool = Field(
        default=True,
        description="refuse to start when session.commands cannot be replayed; false: start "
        "degraded (kills from the Redis mirror only) and keep retrying",
    )
    command_journal: Path | None = Field(
        default=None,
        description="file keeping operator kills and resumes across broker restarts "
        "(published again after a broker reset); the embedded stack sets it",
    )
    violations_lookback_s: float = Field(
        default=86400.0,
        ge=0,
        description="at start-up, replay audit.violations produced this far back so a "
        "restarted proxy knows which sessions were flagged (0: follow from the live end)",
    )
    command_fetch_wait_ms: int = Field(
        default=50,
        ge=0,
        description="fetch_max_wait_ms of the session.commands follower; Tansu answers an "
        "idle fetch after about this long, so 5 ms cost ~10% of a core in the proxy and "
        "as much in the broker, while 50 ms adds ~10 ms (max ~30) to kill delivery",
    )

    # --- dashboard (`/ui` on the control API) ---
    ui_enabled: bool = Field(default=True, description="serve the dashboard at /ui")
    content_scope: Literal["read", "kill", "admin"] = Field(
        default="admin",
        description="scope a control key needs to see prompt and response text in the "
        "dashboard and to run SQL over the trail (the rest needs `read`)",
    )
    ui_feed_lookback_s: float = Field(
        default=3600.0, ge=0, description="the live violation feed starts this far back"
    )
    trail_query_timeout_s: float = Field(default=10.0, gt=0, description="a trail SQL query")
    trail_query_max_rows: int = Field(default=5000, ge=1, le=100_000)
    sink_group: str = Field(default="modeltrail-sink", description="for the health panel")
    streams_group: str = Field(default="modeltrail-streams", description="for the health panel")

    # --- client identity: modeltrail keys, spend, limits (proxy/keys/) ---
    client_auth: Literal["keys", "none"] = Field(
        default="keys",
        description="keys: every request needs a modeltrail key (401 otherwise); none: "
        "anyone may call (local experiments only)",
    )
    key_secret: SecretStr | None = Field(
        default=None, description="HMAC secret of stored key hashes; same on every replica"
    )
    key_secret_file: Path = Field(
        default=Path("./modeltrail-data/key-secret"),
        description="used when key_secret is unset: read, or created (0600) on first start",
    )
    keys_replay_timeout_s: float = Field(default=30.0, gt=0)
    prices_file: Path | None = Field(default=None, description="price YAML checked first")
    team_limits: dict[str, Limits] = Field(
        default_factory=dict, description="rpm/tpm/budgets per team, beside each key's own"
    )
    limits_store: Literal["memory", "redis"] | None = Field(
        default=None, description="limit counters; default: redis when session_store is redis"
    )
