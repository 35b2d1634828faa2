"""What `modeltrail up` runs, as pure data: options, parts, their env, order and status.

Nothing here starts a process; `modeltrail.up` does that from these values, so the
mapping from command-line options to each service's `MODELTRAIL_*` environment,
the start/stop order and the status table are unit-tested without servers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlparse

if TYPE_CHECKING:
    from proxy.keys.local import LocalKey

__all__ = [
    "EMBEDDED_FILE_SPAN_S",
    "PARTS",
    "S3_BROKER_STREAMS_FETCH_WAIT_MS",
    "START_ORDER",
    "STOP_ORDER",
    "BackendSpec",
    "BrokerStorage",
    "Part",
    "StackOptions",
    "client_env_lines",
    "part_envs",
    "status_rows",
]

Provider = Literal["openai", "anthropic", "ollama", "passthrough"]
PROVIDERS: tuple[Provider, ...] = ("openai", "anthropic", "ollama", "passthrough")
Part = Literal["broker-store", "broker", "fake-backend", "sink", "streams", "alerts", "proxy"]
WebhookFormat = Literal["json", "ocsf", "slack"]
BrokerStorage = Literal["s3", "memory"]

#: Every part in start order: the broker's object store (SeaweedFS, with `s3`
#: broker storage) before the broker, consumers before the proxy produces, so the
#: first request is judged and archived.
START_ORDER: tuple[Part, ...] = (
    "broker-store",
    "broker",
    "fake-backend",
    "sink",
    "streams",
    "alerts",
    "proxy",
)
#: Stop order: the proxy drains first (its last events still reach Kafka), the
#: fake backend once nothing calls it, then streams (last verdicts), then the sink
#: (flushes its last files), the broker, and its store last.
STOP_ORDER: tuple[Part, ...] = (
    "proxy",
    "fake-backend",
    "streams",
    "alerts",
    "sink",
    "broker",
    "broker-store",
)
#: Event-time span (and wall-clock age) of one trail file in the embedded stack:
#: the most a broker crash can take from the trail (README: what can be lost).
EMBEDDED_FILE_SPAN_S = 10
#: The streams worker's fetch wait on the embedded broker with `s3` storage. Tansu's
#: s3 engine answers a fetch only until the client's wait runs out, and first lists
#: every batch the partition ever stored: with the worker's 10 ms (tuned for the memory
#: broker's kill latency) it read nothing once a partition held a few thousand
#: batches, and the worker fell further behind (no kills). An idle fetch is answered
#: after at most half of this wait once a record arrives.
S3_BROKER_STREAMS_FETCH_WAIT_MS = 500
PARTS = START_ORDER

DEMO_BACKEND = "demo"


@dataclass(frozen=True, slots=True)
class BackendSpec:
    """A backend given on the command line as `NAME=URL[,provider]`."""

    name: str
    url: str
    provider: Provider = "openai"

    @classmethod
    def parse(cls, text: str) -> BackendSpec:
        """Parse `NAME=URL[,provider]`; raises ValueError with a readable message."""
        name, sep, rest = text.partition("=")
        name = name.strip()
        if not sep or not name or not rest.strip():
            raise ValueError(f"backend {text!r}: expected NAME=URL[,provider]")
        url, _, provider = rest.partition(",")
        url, provider = url.strip(), (provider.strip() or "openai").lower()
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"backend {name!r}: {url!r} is not an http(s) URL")
        if provider not in PROVIDERS:
            raise ValueError(
                f"backend {name!r}: provider {provider!r} is not one of {', '.join(PROVIDERS)}"
            )
        return cls(name=name, url=url.rstrip("/"), provider=provider)  # type: ignore[arg-type]

    def config(self) -> dict[str, object]:
        """The `BackendConfig` JSON object the proxy reads from `MODELTRAIL_PROXY__BACKENDS`."""
        out: dict[str, object] = {"name": self.name, "url": self.url, "provider": self.provider}
        if self.provider == "anthropic":
            out["models"] = ["claude*"]
        return out


@dataclass(frozen=True, slots=True)
class WebhookOption:
    """A webhook given on the command line as `URL[,json|ocsf|slack]`."""

    url: str
    format: WebhookFormat = "json"

    @classmethod
    def parse(cls, text: str) -> WebhookOption:
        """Parse `URL[,format]`; raises ValueError with a readable message."""
        url, _, fmt = text.partition(",")
        url, fmt = url.strip(), (fmt.strip() or "json").lower()
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"--webhook {url!r} is not an http(s) URL")
        if fmt not in ("json", "ocsf", "slack"):
            raise ValueError(f"--webhook {url!r}: format {fmt!r} is not json, ocsf or slack")
        return cls(url=url, format=fmt)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class StackOptions:
    """Everything `modeltrail up` was asked for; defaults are the embedded stack."""

    data_dir: Path = Path("./modeltrail-data")
    kafka: str | None = None
    kafka_port: int = 9092
    broker_storage: BrokerStorage = "s3"
    restart_limit: int = 5  # deaths of one part within 5 minutes before `up` gives up
    topic_prefix: str = ""
    redis: str | None = None
    s3: str | None = None
    s3_endpoint: str | None = None
    s3_region: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    control_host: str = "127.0.0.1"
    control_port: int = 9090
    backends: tuple[BackendSpec, ...] = ()
    demo_backend: bool | None = None
    policy_preset: str | None = None
    webhooks: tuple[WebhookOption, ...] = ()
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.s3 is not None:
            parsed = urlparse(self.s3)
            if parsed.scheme != "s3" or not parsed.netloc:
                raise ValueError(f"--s3 {self.s3!r}: expected s3://bucket/prefix")
        if self.broker_storage not in ("s3", "memory"):
            raise ValueError(f"--broker-storage {self.broker_storage!r}: expected s3 or memory")
        names = [b.name for b in self.backends]
        if len(names) != len(set(names)):
            raise ValueError(f"backend names must be unique: {names}")
        if self.use_demo_backend and DEMO_BACKEND in names:
            raise ValueError(f"backend name {DEMO_BACKEND!r} is reserved for --demo-backend")

    @property
    def use_demo_backend(self) -> bool:
        """The fake backend runs when asked, or by default when no backend is configured."""
        return self.demo_backend if self.demo_backend is not None else not self.backends

    @property
    def embedded_broker(self) -> bool:
        return self.kafka is None

    @property
    def key_secret_file(self) -> Path:
        """The proxy's key secret: the local key's hash is computed under it."""
        return self.data_dir / "key-secret"

    @property
    def pii_key_file(self) -> Path:
        """The PII vault key, created (0600) on first start: the vault outlives restarts."""
        return self.data_dir / "pii-key"

    @property
    def webhook_secret_file(self) -> Path:
        """The HMAC key of the `X-Modeltrail-Signature` header on `--webhook` deliveries."""
        return self.data_dir / "webhook-secret"

    @property
    def broker_dir(self) -> Path:
        """Where the embedded broker's object store keeps its data (`s3` storage)."""
        return self.data_dir / "broker"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def control_key_file(self) -> Path:
        """The admin key the proxy generates (0600) when no control keys are given."""
        return self.data_dir / "control.key"

    @property
    def command_key_file(self) -> Path:
        """The ring signing session commands, created (0600) on first start."""
        return self.data_dir / "command-keys.json"

    @property
    def trail(self) -> str:
        """Where the sink writes: the S3 URL, or `<data-dir>/trail`."""
        return self.s3.rstrip("/") if self.s3 else str(self.data_dir / "trail")

    def parts(self) -> tuple[Part, ...]:
        """The parts this stack runs, in start order."""
        skip: set[str] = set()
        if not self.embedded_broker:
            skip.update(("broker", "broker-store"))
        if self.broker_storage == "memory":
            skip.add("broker-store")
        if not self.use_demo_backend:
            skip.add("fake-backend")
        if not self.webhooks:
            skip.add("alerts")
        return tuple(p for p in START_ORDER if p not in skip)


def _loopback(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _backends(opts: StackOptions, fake_url: str | None) -> tuple[list[dict[str, object]], str]:
    configs = [b.config() for b in opts.backends]
    default = opts.backends[0].name if opts.backends else ""
    if opts.use_demo_backend:
        if not fake_url:
            raise ValueError("the demo backend is on but its URL is unknown")
        # One backend is enough: the proxy picks the dialect from the path, and the
        # fake serves OpenAI, Anthropic and Ollama paths alike.
        configs.append({"name": DEMO_BACKEND, "url": fake_url, "provider": "openai"})
        if not opts.backends:
            default = DEMO_BACKEND
    return configs, default


def _alerts_env(opts: StackOptions, webhook_secret: str | None) -> dict[str, str]:
    hooks: list[dict[str, object]] = []
    for i, w in enumerate(opts.webhooks, 1):
        hook: dict[str, object] = {"name": f"webhook-{i}", "url": w.url, "format": w.format}
        if webhook_secret:
            hook["secret"] = webhook_secret
        hooks.append(hook)
    # A URL the operator typed may point at this machine (a local receiver): its host
    # is allowed explicitly; every other internal address stays refused.
    hosts = sorted({urlparse(w.url).hostname or "" for w in opts.webhooks})
    return {
        "MODELTRAIL_ALERTS__WEBHOOKS": json.dumps(hooks, separators=(",", ":")),
        "MODELTRAIL_ALERTS__ALLOW_HOSTS": json.dumps(hosts),
    }


def part_envs(
    opts: StackOptions,
    *,
    bootstrap: str,
    fake_url: str | None = None,
    webhook_secret: str | None = None,
) -> dict[Part, dict[str, str]]:
    """The `MODELTRAIL_*` environment of each service part (only the parts that read env)."""
    common = {
        "MODELTRAIL_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "MODELTRAIL_KAFKA__TOPIC_PREFIX": opts.topic_prefix,
        # The streams worker signs kills and the proxy verifies them with this ring.
        "MODELTRAIL_SIGNING__KEY_FILE": str(opts.command_key_file),
    }
    if opts.redis:
        common["MODELTRAIL_REDIS__URL"] = opts.redis
    backends, default = _backends(opts, fake_url)
    proxy = {
        **common,
        "MODELTRAIL_PROXY__HOST": opts.host,
        "MODELTRAIL_PROXY__PORT": str(opts.port),
        "MODELTRAIL_PROXY__CONTROL_HOST": opts.control_host,
        "MODELTRAIL_PROXY__CONTROL_PORT": str(opts.control_port),
        "MODELTRAIL_PROXY__BACKENDS": json.dumps(backends, separators=(",", ":")),
        "MODELTRAIL_PROXY__SPOOL_DIR": str(opts.data_dir / "spool"),
        "MODELTRAIL_PROXY__CONTROL_KEY_FILE": str(opts.control_key_file),
        # Operator kills and resumes outlive the in-memory broker here.
        "MODELTRAIL_PROXY__COMMAND_JOURNAL": str(opts.data_dir / "commands.journal"),
        "MODELTRAIL_PROXY__SESSION_STORE": "redis" if opts.redis else "memory",
        # Client keys are on by default (the local key is registered at start); an
        # explicit MODELTRAIL_PROXY__CLIENT_AUTH=none in the environment turns them off.
        "MODELTRAIL_PROXY__KEY_SECRET_FILE": str(opts.key_secret_file),
        # A vault on Redis needs a key that survives restarts (and fits every replica here).
        "MODELTRAIL_PROXY__PII__KEY_FILE": str(opts.pii_key_file),
    }
    if not opts.s3:
        # The control API's history reads a local trail.
        proxy["MODELTRAIL_PROXY__HISTORY_PATH"] = opts.trail
    if default:
        proxy["MODELTRAIL_PROXY__DEFAULT_BACKEND"] = default
    streams = {**common, "MODELTRAIL_STREAMS__DATA_DIR": str(opts.data_dir / "streams")}
    if opts.embedded_broker and opts.broker_storage == "s3":
        streams["MODELTRAIL_STREAMS__FETCH_MAX_WAIT_MS"] = str(S3_BROKER_STREAMS_FETCH_WAIT_MS)
    if opts.policy_preset:
        # The proxy's inline checks and the streams worker judge with the same preset.
        streams["MODELTRAIL_STREAMS__POLICY_PRESET"] = opts.policy_preset
        proxy["MODELTRAIL_PROXY__POLICY_PRESET"] = opts.policy_preset
    # A short idle flush: the trail of a quiet dev stack is queryable within seconds.
    # Files close after EMBEDDED_FILE_SPAN_S of event time or of age, so a broker
    # crash (memory storage) loses at most that window of the trail.
    span = str(EMBEDDED_FILE_SPAN_S)
    sink = {
        **common,
        "MODELTRAIL_SINK__TARGET": opts.trail,
        "MODELTRAIL_SINK__IDLE_FLUSH_S": "2",
        "MODELTRAIL_SINK__MAX_SPAN_S": span,
        "MODELTRAIL_SINK__MAX_OPEN_S": span,
    }
    if opts.s3_endpoint:
        sink["MODELTRAIL_SINK__S3_ENDPOINT_URL"] = opts.s3_endpoint
    if opts.s3_region:
        sink["MODELTRAIL_SINK__S3_REGION"] = opts.s3_region
    envs: dict[Part, dict[str, str]] = {"proxy": proxy, "streams": streams, "sink": sink}
    if opts.webhooks:
        envs["alerts"] = {**common, **_alerts_env(opts, webhook_secret)}
    for part_env in envs.values():
        part_env.update(opts.extra_env)
    return envs


def client_env_lines(opts: StackOptions, key: str | None = None) -> list[str]:
    """The lines a user pastes into a shell to point their clients at the proxy (with the key)."""
    base = f"http://{_loopback(opts.host)}:{opts.port}"
    lines = [f"OPENAI_BASE_URL={base}/v1", f"ANTHROPIC_BASE_URL={base}"]
    if key is not None:
        lines += [f"OPENAI_API_KEY={key}", f"ANTHROPIC_API_KEY={key}"]
    return lines


def status_rows(
    opts: StackOptions,
    *,
    bootstrap: str,
    fake_url: str | None = None,
    client_key: LocalKey | None = None,
) -> list[tuple[str, str]]:
    """(what, where) rows of the status table shown once the stack is ready."""
    control = f"http://{_loopback(opts.control_host)}:{opts.control_port}"
    rows = [
        ("proxy", f"http://{_loopback(opts.host)}:{opts.port}"),
        ("control API", f"{control}/control/health"),
        ("dashboard", f"{control}/ui/"),
        ("metrics", f"{control}/metrics"),
        ("control key", f"{opts.control_key_file} (bearer key, read by `modeltrail sessions`)"),
        (
            "kafka",
            bootstrap + (f" ({opts.broker_storage})" if opts.embedded_broker else " (external)"),
        ),
        ("session store", f"redis ({_redact(opts.redis)})" if opts.redis else "memory"),
        ("audit trail", opts.trail),
        ("logs", str(opts.logs_dir)),
    ]
    if fake_url and opts.use_demo_backend:
        rows.append(("demo backend", fake_url))
    for backend in opts.backends:
        rows.append((f"backend {backend.name}", f"{backend.url} ({backend.provider})"))
    if client_key is not None:
        rows.append(("client key id", f"{client_key.key_id} (team local)"))
    rows.extend(("env", line) for line in client_env_lines(opts))
    return rows


def _redact(url: str) -> str:
    """A URL without its password, for display."""
    parsed = urlparse(url)
    if parsed.password:
        netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
        return parsed._replace(netloc=netloc).geturl()
    return url
