"""`modeltrail up` as a child process, for the chaos bench and the integration tests.

Knows where the stack listens, reads what `up` prints, finds the process of each
part (its direct children) so a test can SIGKILL one, and stops it with SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from modeltrail.embedded.process import child_processes, free_port

__all__ = ["PART_COMMANDS", "UpProcess", "wait_for"]

T = TypeVar("T")

#: How each part's command line can be told apart among `up`'s children.
PART_COMMANDS = {
    "broker-store": "weed server",
    "broker": "tansu",
    "sink": "-m sinks ",
    "streams": "-m streams ",
    "proxy": "-m proxy ",
}


def wait_for(what: str, check: Callable[[], T], timeout_s: float = 20.0) -> T:
    """Poll `check` until truthy; its value. Raises AssertionError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


class UpProcess:
    """One `modeltrail up` on free ports (kept across restarts) and a data directory."""

    def __init__(
        self,
        data: Path,
        *,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        ports: dict[str, int] | None = None,
    ) -> None:
        self.data = data
        self.args = list(args)
        self.env = env or {}
        self.ports = ports or {
            "port": free_port(),
            "control-port": free_port(),
            "kafka-port": free_port(),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.out = data / "up.out"

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['port']}"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports['kafka-port']}"

    def start(self, timeout_s: float = 120.0) -> UpProcess:
        """Start `up` and wait until it prints that it runs; raises AssertionError if not."""
        self.data.mkdir(parents=True, exist_ok=True)
        self.out = self.data / f"up-{uuid.uuid4().hex[:6]}.out"
        argv = [sys.executable, "-m", "modeltrail.cmd_stack", "up", "--data-dir", str(self.data)]
        for name, port in self.ports.items():
            argv += [f"--{name}", str(port)]
        with self.out.open("wb") as out:
            self.proc = subprocess.Popen(
                [*argv, *self.args],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.data,
                env={**os.environ, "COLUMNS": "160", **self.env},
            )
        proc = self.proc
        wait_for("up ready", lambda: "Ctrl-C stops" in self.text() or proc.poll(), timeout_s)
        if proc.poll() is not None:
            raise AssertionError(f"modeltrail up exited:\n{self.text()}")
        return self

    def text(self) -> str:
        return self.out.read_text(errors="replace")

    def part_pid(self, part: str) -> int:
        """The pid of a running part; raises AssertionError when not exactly one matches."""
        assert self.proc is not None
        needle = PART_COMMANDS[part]
        children = child_processes(self.proc.pid).items()
        pids = [p for p, cmd in children if needle in f"{cmd} "]
        if len(pids) != 1:
            raise AssertionError(f"{part}: {child_processes(self.proc.pid)}")
        return pids[0]

    def kill_part(self, part: str) -> None:
        """SIGKILL one part (its supervisor restarts it)."""
        os.kill(self.part_pid(part), signal.SIGKILL)

    def restarted(self, part: str, count: int = 1) -> bool:
        """Whether `up` has reported `part` restarted at least `count` times."""
        return self.text().count(f"{part} restarted") >= count

    def stop(self, timeout_s: float = 120.0) -> int | None:
        """SIGTERM and wait: the proxy drains, the sink flushes. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
