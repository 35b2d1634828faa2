"""When `modeltrail up` restarts a part that died, and when it gives up.

`Restarts` is the pure policy (the clock is passed in); `Supervisor` applies it
to a running stack, one `step()` per poll of `modeltrail up`'s main loop.

A dead part is restarted after a backoff that doubles with each failure in a
row (1 s, 2 s, 4 s, ... up to `max_delay_s`). A part that stayed up for
`healthy_after_s` is forgiven: its next death starts the backoff again. A part
that died `max_failures` times within `window_s` keeps failing: the stack stops.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["RestartPolicy", "Restarts", "Supervised", "Supervisor"]


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """Backoff and give-up limits of the supervisor."""

    initial_delay_s: float = 1.0
    max_delay_s: float = 30.0
    max_failures: int = 5
    window_s: float = 300.0
    healthy_after_s: float = 60.0


@dataclass(slots=True)
class Restarts:
    """The failure history of one part."""

    policy: RestartPolicy = field(default_factory=RestartPolicy)
    deaths: deque[float] = field(default_factory=deque)
    in_a_row: int = 0
    started_at: float | None = None

    def started(self, now: float) -> None:
        """The part is up (again) at `now`."""
        self.started_at = now

    def died(self, now: float) -> float | None:
        """Record a death at `now`; the delay before the restart, or None to give up."""
        p = self.policy
        if self.started_at is not None and now - self.started_at >= p.healthy_after_s:
            self.in_a_row = 0
        self.deaths.append(now)
        while self.deaths and now - self.deaths[0] > p.window_s:
            self.deaths.popleft()
        if len(self.deaths) >= p.max_failures:
            return None
        delay = float(min(p.initial_delay_s * 2**self.in_a_row, p.max_delay_s))
        self.in_a_row += 1
        return delay


class Supervised(Protocol):
    """What the supervisor needs of a stack (`modeltrail.up.Stack`)."""

    def dead_parts(self) -> list[str]: ...
    def exit_code(self, part: str) -> int | None: ...
    def restart(self, part: str) -> None: ...


class Supervisor:
    """Restarts dead parts with backoff; `step()` once per poll, False when giving up."""

    def __init__(
        self,
        stack: Supervised,
        report: Callable[[str, str], None],
        policy: RestartPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stack = stack
        self.report = report
        self.policy = policy or RestartPolicy()
        self.clock = clock
        self.history: dict[str, Restarts] = {}
        self.due: dict[str, float] = {}
        self.restarted = 0
        self.gave_up: str | None = None

    def _died(self, part: str, why: str) -> bool:
        now = self.clock()
        restarts = self.history.setdefault(part, Restarts(self.policy))
        delay = restarts.died(now)
        if delay is None:
            self.gave_up = part
            self.report(part, f"{why}; it keeps failing, stopping the stack")
            return False
        self.due[part] = now + delay
        self.report(part, f"{why}; restarting in {delay:.0f}s")
        return True

    def step(self) -> bool:
        """Notice deaths, restart what is due; False once a part keeps failing."""
        for part in self.stack.dead_parts():
            if part not in self.due and not self._died(
                part, f"exited with {self.stack.exit_code(part)}"
            ):
                return False
        now = self.clock()
        for part, at in sorted(self.due.items(), key=lambda kv: kv[1]):
            if now < at:
                continue
            del self.due[part]
            try:
                self.stack.restart(part)
            except Exception as exc:  # a failed start counts as one more death
                if not self._died(part, f"restart failed: {str(exc)[:200]}"):
                    return False
                continue
            self.history.setdefault(part, Restarts(self.policy)).started(self.clock())
            self.restarted += 1
            self.report(part, "restarted")
        return True
