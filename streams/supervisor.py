"""One streams worker on several cores: `processes` copies of `python -m streams`.

Judging is CPU-bound Python, so one process uses one core. With `processes: N` the process
that was started becomes a supervisor: it creates the topics and checks the changelogs once,
then runs N workers that join the same consumer group, so Kafka shares the partitions (and
the session and spend tables, which are partitioned the same way) among them, exactly as it
would among N replicas. Each child gets its own `process_index`, which gives it its own
`instance_id` suffix, data dir and web port.

The supervisor forwards SIGTERM, SIGINT and SIGHUP to every child. When one child exits,
for whatever reason, the others are stopped and the supervisor exits with the worst status,
so an orchestrator restarts the whole worker (no half-running replica stays up unnoticed).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from types import FrameType

from streams.settings import StreamsSettings

__all__ = ["child_env", "supervise"]

log = logging.getLogger("streams.supervisor")

_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def child_env(index: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of child `index`: the supervisor's own, plus its index."""
    env = dict(os.environ if base is None else base)
    env["MODELTRAIL_STREAMS__PROCESS_INDEX"] = str(index)
    return env


def supervise(settings: StreamsSettings) -> int:
    """Run `settings.processes` workers until one exits; return the exit status to use."""
    argv = [sys.executable, "-m", "streams"]
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if signum != signal.SIGHUP:
            stopping = True
        for child in children:
            # Not `poll()`: reaping here would hide a dead child from `_wait_any`. A
            # zombie takes the signal harmlessly until it is reaped there.
            if child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signum)

    # Handlers first: a signal that arrives while the children start reaches them all.
    previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    try:
        for i in range(settings.processes):
            children.append(subprocess.Popen(argv, env=child_env(i)))
            if stopping:
                forward(signal.SIGTERM, None)
        log.info(
            "streams_supervisor_start",
            extra={"processes": settings.processes, "pids": [c.pid for c in children]},
        )
        first = _wait_any(children)
        if not stopping:
            log.error("streams_child_exited", extra={"pid": first.pid, "status": first.returncode})
            forward(signal.SIGTERM, None)
        for child in children:
            try:
                child.wait(settings.shutdown_timeout_s + 5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    statuses = [c.returncode for c in children]
    worst = max((abs(s) for s in statuses), default=0)
    if not stopping and worst == 0:
        worst = 1  # a child that stopped on its own is a failure of the whole worker
    log.info("streams_supervisor_stop", extra={"statuses": statuses})
    return worst


def _wait_any(children: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """Block until one child exits (signal handlers run meanwhile); return it."""
    while True:
        pid, status = os.wait()
        for child in children:
            if child.pid == pid:
                child.returncode = os.waitstatus_to_exitcode(status)
                return child
