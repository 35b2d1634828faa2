"""`modeltrail up` as a real process on free ports, for the end-to-end and browser tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from modeltrail.embedded.process import free_port

__all__ = ["Up", "run_up"]


@dataclass
class Up:
    """A running `modeltrail up` and where its parts listen."""

    proc: subprocess.Popen[bytes]
    output: Path
    data_dir: Path
    port: int
    control_port: int
    kafka_port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def trail(self) -> Path:
        return self.data_dir / "trail"

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def tails(self) -> str:
        logs = sorted((self.data_dir / "logs").glob("*.log"))
        return "\n".join(
            f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            for log in logs
        )


U = TypeVar("U", bound=Up)


@contextmanager
def run_up(
    data: Path,
    cls: type[U],
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 120.0,
) -> Iterator[U]:
    """Start `modeltrail up` in `data`, wait until it is ready, SIGTERM it on exit.

    A stack that does not come up fails the test (with its output and log tails).
    """
    ports = {"port": free_port(), "control_port": free_port(), "kafka_port": free_port()}
    output = data / "up.out"
    argv = [sys.executable, "-m", "modeltrail.cmd_stack", "up", "--data-dir", str(data)]
    for name, port in ports.items():
        argv += [f"--{name.replace('_', '-')}", str(port)]
    with output.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=data,
            env={**os.environ, "COLUMNS": "160", **(env or {})},
        )
    running = cls(proc=proc, output=output, data_dir=data, **ports)
    try:
        deadline = time.monotonic() + timeout_s
        while "Ctrl-C stops" not in running.text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"modeltrail up did not come up:\n{running.text()}\n{running.tails()}")
            time.sleep(0.2)
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
        print(running.text())
        print(running.tails())
