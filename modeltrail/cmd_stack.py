"""`modeltrail up` and `modeltrail demo`: typer commands (wired into `modeltrail.cli`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from modeltrail.cmd_sessions import KeyFile
from modeltrail.cmd_sessions import control_key as resolve_key
from modeltrail.stack import BackendSpec, StackOptions, WebhookOption

__all__ = ["app", "demo", "options_from_cli", "up"]

app = typer.Typer(help="Run the embedded stack and drive a demo through it.")


def options_from_cli(
    *,
    data_dir: Path,
    backend: list[str],
    policy: str | None,
    webhook: list[str] | None = None,
    **values: Any,
) -> StackOptions:
    """Turn `up`'s option values (named as its parameters) into StackOptions.

    Options other than these four carry StackOptions' own field names.

    Raises:
        typer.BadParameter: a malformed --backend or --s3, or a clash between them.
    """
    try:
        return StackOptions(
            data_dir=data_dir.resolve(),
            backends=tuple(BackendSpec.parse(b) for b in backend),
            policy_preset=policy,
            webhooks=tuple(WebhookOption.parse(w) for w in webhook or ()),
            **values,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@app.command()
def up(
    ctx: typer.Context,
    data_dir: Path = typer.Option(Path("./modeltrail-data"), help="logs, spool and the trail"),
    kafka: str | None = typer.Option(
        None, help="external Kafka bootstrap servers (no embedded broker)"
    ),
    kafka_port: int = typer.Option(9092, help="port of the embedded broker"),
    broker_storage: str = typer.Option(
        "s3",
        help="embedded broker storage: s3 (SeaweedFS under the data dir, survives restarts) "
        "or memory (fastest; a broker restart loses what the sink has not written yet)",
    ),
    restart_limit: int = typer.Option(
        5, min=1, help="deaths of one part within 5 minutes before the stack gives up"
    ),
    topic_prefix: str = typer.Option("", help="prefix of every topic name"),
    redis: str | None = typer.Option(None, help="Redis URL: turns the redis session store on"),
    s3: str | None = typer.Option(None, help="write the trail to s3://bucket/prefix"),
    s3_endpoint: str | None = typer.Option(None, help="S3 endpoint (MinIO, SeaweedFS, ...)"),
    s3_region: str | None = typer.Option(None, help="S3 region"),
    host: str = typer.Option("127.0.0.1", help="address the proxy binds"),
    port: int = typer.Option(8080, help="proxy port"),
    control_host: str = typer.Option("127.0.0.1", help="address the control API binds"),
    control_port: int = typer.Option(9090, help="control API port"),
    backend: list[str] = typer.Option(
        [], "--backend", "-b", help="NAME=URL[,provider] (repeatable); the first is the default"
    ),
    demo_backend: bool | None = typer.Option(
        None,
        "--demo-backend/--no-demo-backend",
        help="run the fake LLM backend (default: on when no --backend is given)",
    ),
    policy: str | None = typer.Option(None, help="policy preset: minimal, standard, strict"),
    webhook: list[str] = typer.Option(
        [],
        "--webhook",
        help="URL[,json|ocsf|slack] (repeatable): deliver violations and kills there, signed "
        "with the key in <data-dir>/webhook-secret (runs the alerts service)",
    ),
) -> None:
    """Start the broker, topics, streams worker, sink and proxy; Ctrl-C stops them in order."""
    from modeltrail.up import run_up

    opts = options_from_cli(**ctx.params)
    raise typer.Exit(run_up(opts, Console()))


@app.command()
def demo(
    proxy: str = typer.Option("http://127.0.0.1:8080", help="proxy base URL"),
    control: str = typer.Option("http://127.0.0.1:9090", help="control API base URL"),
    trail: str = typer.Option(
        "./modeltrail-data/trail", help="Parquet trail to query: a directory or s3://bucket/prefix"
    ),
    s3_endpoint: str | None = typer.Option(None, help="S3 endpoint of an s3:// trail"),
    control_key: str | None = typer.Option(
        None, envvar="MODELTRAIL_CONTROL_KEY", help="bearer key for the control API"
    ),
    key_file: Path = KeyFile,
    timeout: float = typer.Option(30.0, help="seconds to wait for the kill and the trail"),
    client_key: str | None = typer.Option(
        None,
        envvar="MODELTRAIL_CLIENT_KEY",
        help="modeltrail client key (default: the local key `up` made in --data-dir)",
    ),
    data_dir: Path = typer.Option(Path("./modeltrail-data"), help="where `up` keeps its data"),
) -> None:
    """Send a short conversation with an attack through a running stack and show the kill."""
    from modeltrail.demo import Demo, run_demo
    from proxy.keys.local import load_local_key

    if client_key is None:
        local = load_local_key(data_dir)
        client_key = local.key if local is not None else None

    demo = Demo(
        proxy=proxy,
        control=control,
        trail=trail,
        control_key=resolve_key(control_key, key_file),
        client_key=client_key,
        timeout_s=timeout,
        console=Console(),
        s3_endpoint=s3_endpoint,
    )
    raise typer.Exit(run_demo(demo))


if __name__ == "__main__":
    app()
