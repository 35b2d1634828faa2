"""`modeltrail up` for the end-to-end and browser tests: a pytest-friendly view of
`modeltrail.embedded.up_process.UpProcess` (the one launcher, shared with the chaos bench).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from modeltrail.embedded.up_process import UpProcess

__all__ = ["Up", "run_up"]


@dataclass
class Up:
    """A running `modeltrail up` and where its parts listen."""

    stack: UpProcess

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        assert self.stack.proc is not None
        return self.stack.proc

    @property
    def data_dir(self) -> Path:
        return self.stack.data

    @property
    def port(self) -> int:
        return self.stack.ports["port"]

    @property
    def control_port(self) -> int:
        return self.stack.ports["control-port"]

    @property
    def kafka_port(self) -> int:
        return self.stack.ports["kafka-port"]

    @property
    def bootstrap(self) -> str:
        return self.stack.bootstrap

    @property
    def trail(self) -> Path:
        return self.data_dir / "trail"

    def text(self) -> str:
        return self.stack.text()

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
    running = cls(UpProcess(data, env=dict(env or {})))
    try:
        running.stack.start(timeout_s)
    except AssertionError:
        running.stack.stop()
        pytest.fail(f"modeltrail up did not come up:\n{running.text()}\n{running.tails()}")
    try:
        yield running
    finally:
        running.stack.stop()
        print(running.text())
        print(running.tails())
