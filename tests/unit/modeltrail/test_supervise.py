"""The supervisor of `modeltrail up`: backoff, forgiveness, giving up; real child processes."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from modeltrail.embedded.process import ManagedProcess
from modeltrail.supervise import RestartPolicy, Restarts, Supervisor


def test_backoff_doubles_then_gives_up_within_the_window() -> None:
    r = Restarts(RestartPolicy(initial_delay_s=1, max_delay_s=4, max_failures=5, window_s=100))
    assert [r.died(t) for t in (0, 1, 2, 3)] == [1, 2, 4, 4]
    assert r.died(4) is None  # five deaths in 100 s: it keeps failing


def test_a_part_that_stayed_up_is_forgiven() -> None:
    policy = RestartPolicy(initial_delay_s=1, max_failures=3, window_s=10, healthy_after_s=5)
    r = Restarts(policy)
    assert r.died(0) == 1 and r.died(1) == 2
    r.started(2)
    assert r.died(20) == 1  # up for 18 s and the old deaths left the window
    r.started(21)
    assert r.died(22) == 2 and r.died(23) is None


class _Stack:
    """Real child processes behind the supervisor's protocol; `restart` starts a new one."""

    def __init__(self, tmp: Path, code: str) -> None:
        self.tmp, self.code, self.starts = tmp, code, 0
        self.procs: dict[str, ManagedProcess] = {}
        self.restart("worker")
        self.starts = 0

    def restart(self, part: str) -> None:
        log = self.tmp / f"{part}.log"
        proc = ManagedProcess(
            part,
            [sys.executable, "-c", self.code],
            log_path=log,
            ready=lambda: log.exists() and log.stat().st_size > 0,
        )
        self.procs[part] = proc.start()
        self.starts += 1

    def dead_parts(self) -> list[str]:
        return [p for p, proc in self.procs.items() if not proc.alive]

    def exit_code(self, part: str) -> int | None:
        proc = self.procs[part].proc
        return proc.returncode if proc else None


def _run(sup: Supervisor, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not sup.step():
            return False
        time.sleep(0.02)
    return True


def test_supervisor_restarts_a_dead_part_and_reports_it(tmp_path: Path) -> None:
    stack = _Stack(tmp_path, "print('up', flush=True); import time; time.sleep(60)")
    reports: list[tuple[str, str]] = []
    sup = Supervisor(stack, lambda p, w: reports.append((p, w)), RestartPolicy(0.05, 0.1))
    stack.procs["worker"].kill()
    assert _run(sup, 1.5)
    assert stack.starts == 1 and stack.dead_parts() == []
    assert reports[0][0] == "worker" and "exited with -9" in reports[0][1]
    assert reports[-1] == ("worker", "restarted")
    stack.procs["worker"].kill()


def test_supervisor_gives_up_on_a_part_that_keeps_failing(tmp_path: Path) -> None:
    stack = _Stack(
        tmp_path, "print('up', flush=True); import sys, time; time.sleep(0.2); sys.exit(2)"
    )
    reports: list[tuple[str, str]] = []
    policy = RestartPolicy(initial_delay_s=0.01, max_delay_s=0.02, max_failures=3, window_s=60)
    sup = Supervisor(stack, lambda p, w: reports.append((p, w)), policy)
    assert not _run(sup, 5.0)
    assert sup.gave_up == "worker"
    assert "keeps failing" in reports[-1][1]


def test_a_restarted_part_is_not_ready_on_the_previous_runs_log(tmp_path: Path) -> None:
    import re

    from modeltrail.up import LogReady

    log = tmp_path / "sink.log"
    log.write_text("old run\nsink_started\n")
    ready = LogReady(log, re.compile("sink_started"), settle_s=60)
    assert not ready()  # the old ready line does not count
    with log.open("a") as fh:
        fh.write("new run\n")
    assert not ready()
    with log.open("a") as fh:
        fh.write("sink_started\n")
    assert ready()
