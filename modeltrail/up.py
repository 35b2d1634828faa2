"""`modeltrail up`: run the embedded stack as child processes, show progress, stop in order.

Each part is a `ManagedProcess` with its log under `<data-dir>/logs/<part>.log`.
Start order and stop order come from `modeltrail.stack`; stopping sends SIGTERM to
one part at a time and waits for it, so the proxy drains before streams stop and
the sink flushes its last files before the broker goes away.

Once running, the stack is supervised (`modeltrail.supervise`): a part that dies
is reported and restarted with backoff while the others keep serving (the proxy
spools through a broker outage). It stops on Ctrl-C/SIGTERM, or when a part keeps
failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from modeltrail.embedded.process import ManagedProcess, ProcessDied, free_port, port_open
from modeltrail.embedded.servers import BROKER_BUCKET, ensure_bucket, s3_gateway, tansu_broker
from modeltrail.healthcheck import http_ok
from modeltrail.stack import STOP_ORDER, Part, StackOptions, part_envs, status_rows
from modeltrail.supervise import RestartPolicy, Supervisor
from proxy.keys.local import LocalKey, local_key, register_local_key
from proxy.keys.secret import key_secret
from schemas.kafka import ensure_topics
from schemas.settings import KafkaSettings
from schemas.signing import SigningSettings, load_ring

__all__ = ["Stack", "StackError", "run_up"]

#: Log lines that mean a consumer part is ready, when it prints one.
READY_PATTERNS: dict[Part, re.Pattern[str]] = {
    "streams": re.compile(r"Worker\]: Ready|worker_ready|streams_ready|ready", re.I),
    "sink": re.compile(r"sink_started|sink_ready|partitions_assigned|ready|started", re.I),
    "alerts": re.compile(r"alerts_started"),
}
#: Parts ready only on their ready line, never by staying up a while (`LogReady.settle_s`):
#: the streams worker checks its changelog before faust starts, and a proxy that took a
#: settled worker for a ready one sent its first attacks to a worker not yet judging.
READY_LINE_ONLY: frozenset[Part] = frozenset({"streams"})
STOP_TIMEOUTS: dict[Part, float] = {
    "proxy": 30.0,
    "fake-backend": 5.0,
    "streams": 20.0,
    "alerts": 10.0,
    "sink": 30.0,
    "broker": 10.0,
    # SeaweedFS does not exit on SIGTERM (its S3 gateway keeps retrying its stopped
    # filer); the broker is already stopped and a SIGKILL loses no written object.
    "broker-store": 3.0,
}
START_TIMEOUTS: dict[Part, float] = {"streams": 120.0, "sink": 60.0, "proxy": 60.0}


class StackError(RuntimeError):
    """The stack could not start: a port is taken or a part died while starting."""


@dataclass
class LogReady:
    """Ready once the log shows a ready line, or the process stayed up `settle_s` and logged.

    Only what this run wrote counts: a restarted part appends to the log of the
    previous one, whose ready line must not make the new one look ready.
    """

    path: Path
    pattern: re.Pattern[str]
    settle_s: float = 3.0
    _since: float | None = None
    _offset: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        with contextlib.suppress(OSError):
            self._offset = self.path.stat().st_size

    def __call__(self) -> bool:
        now = time.monotonic()
        if self._since is None:
            self._since = now
        try:
            with self.path.open("rb") as fh:
                fh.seek(max(self._offset, fh.seek(0, 2) - 65_536))
                text = fh.read().decode(errors="replace")
        except OSError:
            return False
        if self.pattern.search(text):
            return True
        return bool(text.strip()) and now - self._since >= self.settle_s


@dataclass
class PartState:
    """What the progress display shows for one part."""

    name: str
    state: str = "waiting"
    detail: str = ""
    started_at: float | None = None


@dataclass
class Stack:
    """The parts of one `modeltrail up`, built from options; `start`/`stop` run them."""

    opts: StackOptions
    python: str = sys.executable
    processes: dict[Part, ManagedProcess] = field(default_factory=dict)
    states: dict[str, PartState] = field(default_factory=dict)
    bootstrap: str = ""
    fake_url: str | None = None
    client_key: LocalKey | None = None
    store_port: int = 0  # S3 port of the broker's store; fixed for the stack's life

    def __post_init__(self) -> None:
        self.bootstrap = self.opts.kafka or f"127.0.0.1:{self.opts.kafka_port}"
        if "broker-store" in self.opts.parts():
            self.store_port = free_port()
        if not self.opts.embedded_broker:
            self.states["topics"] = PartState("topics")
        for name in self.opts.parts():
            self.states[name] = PartState(name)
            if name == "broker":
                self.states["topics"] = PartState("topics")

    # --- building --------------------------------------------------------------------

    def log_path(self, part: str) -> Path:
        return self.opts.logs_dir / f"{part}.log"

    def check_ports(self) -> None:
        """Fail early, with the option to change, when a fixed port is already taken."""
        wanted = [("--port", self.opts.host, self.opts.port)]
        wanted.append(("--control-port", self.opts.control_host, self.opts.control_port))
        if self.opts.embedded_broker:
            wanted.append(("--kafka-port", "127.0.0.1", self.opts.kafka_port))
        for option, host, port in wanted:
            probe = "127.0.0.1" if host in ("0.0.0.0", "::") else host
            if port_open(probe, port):
                raise StackError(f"port {port} is already in use; choose another with {option}")

    def build(self, part: Part) -> ManagedProcess:
        """The ManagedProcess of one part (the fake backend first, for its URL)."""
        log = self.log_path(part)
        if part == "broker-store":
            return s3_gateway(self.opts.broker_dir, log, self.store_port)
        if part == "broker":
            store = f"http://127.0.0.1:{self.store_port}" if self.store_port else None
            return tansu_broker(self.opts.kafka_port, log, s3_endpoint=store)
        if part == "fake-backend":
            port = free_port()
            self.fake_url = f"http://127.0.0.1:{port}"
            argv = [self.python, "-m", "modeltrail.embedded.fake_backend", "--host", "127.0.0.1"]
            return ManagedProcess(
                part,
                [*argv, "--port", str(port)],
                log_path=log,
                ready=lambda: port_open("127.0.0.1", port),
                start_timeout=30,
            )
        secret = None
        if part == "alerts":
            secret = key_secret(None, self.opts.webhook_secret_file).decode()
        env = part_envs(
            self.opts, bootstrap=self.bootstrap, fake_url=self.fake_url, webhook_secret=secret
        )[part]
        module = {
            "proxy": "proxy",
            "streams": "streams",
            "sink": "sinks",
            "alerts": "streams.alerts",
        }[part]
        if part == "proxy":
            host = "127.0.0.1" if self.opts.control_host in ("0.0.0.0", "::") else None
            control = f"http://{host or self.opts.control_host}:{self.opts.control_port}"
            proxy_host = "127.0.0.1" if self.opts.host in ("0.0.0.0", "::") else self.opts.host
            port = self.opts.port

            def ready() -> bool:
                return port_open(proxy_host, port) and http_ok(f"{control}/control/health")

        else:
            settle = math.inf if part in READY_LINE_ONLY else LogReady.settle_s
            ready = LogReady(log, READY_PATTERNS[part], settle_s=settle)
        return ManagedProcess(
            part,
            [self.python, "-m", module],
            log_path=log,
            ready=ready,
            env=env,
            start_timeout=START_TIMEOUTS.get(part, 60.0),
        )

    # --- running ---------------------------------------------------------------------

    def _set(self, part: str, state: str, detail: str = "") -> None:
        st = self.states[part]
        if state == "starting":
            st.started_at = time.monotonic()
        if state == "ready" and st.started_at is not None and not detail:
            detail = f"{time.monotonic() - st.started_at:.1f}s"
        st.state, st.detail = state, detail

    def start(self) -> None:
        """Start every part in order; raises StackError (after stopping what started)."""
        self.check_ports()
        self.opts.logs_dir.mkdir(parents=True, exist_ok=True)
        # Before any part starts: the worker signs kills with it, the proxy verifies.
        load_ring(SigningSettings(key_file=self.opts.command_key_file))
        if not self.opts.embedded_broker:
            self._create_topics()
        for part in self.opts.parts():
            self._set(part, "starting")
            _rotate(self.log_path(part))
            proc = self.build(part)
            self.processes[part] = proc
            try:
                proc.start()
            except ProcessDied as exc:
                self._set(part, "failed", "see log below")
                raise StackError(str(exc)) from exc
            self._set(part, "ready")
            self._after_start(part)

    def _after_start(self, part: Part) -> None:
        """What a part needs once up: the broker's bucket, the topics (again, after a reset)."""
        if part == "broker-store":
            try:
                ensure_bucket(f"http://127.0.0.1:{self.store_port}", BROKER_BUCKET)
            except RuntimeError as exc:
                raise StackError(str(exc)) from exc
        if part == "broker":
            self._create_topics()

    def restart(self, part: str) -> None:
        """Start a dead part again (same ports and env); raises StackError or ProcessDied."""
        name: Part = next(p for p in self.processes if p == part)
        self._set(name, "starting", "restarting")
        proc = self.build(name)
        self.processes[name] = proc
        try:
            proc.start()
        except ProcessDied:
            self._set(name, "failed", "restart failed")
            raise
        self._set(name, "ready")
        self._after_start(name)

    def dead_parts(self) -> list[str]:
        """The started parts that are no longer running."""
        return [part for part, proc in self.processes.items() if not proc.alive]

    def exit_code(self, part: str) -> int | None:
        proc = self.processes[part]  # type: ignore[index]
        return proc.proc.returncode if proc.proc else None

    def _create_topics(self) -> None:
        self._set("topics", "starting")
        settings = KafkaSettings(
            bootstrap_servers=self.bootstrap, topic_prefix=self.opts.topic_prefix
        )
        try:
            names = asyncio.run(ensure_topics(settings, timeout_s=30.0))
        except Exception as exc:
            self._set("topics", "failed", str(exc))
            raise StackError(f"could not create topics on {self.bootstrap}: {exc}") from exc
        self._set("topics", "ready", f"{len(names)} topics")
        self._register_client_key(settings)

    def _register_client_key(self, settings: KafkaSettings) -> None:
        """The local client key (created on first start) on `identity.keys`, for the proxy."""
        self.client_key = local_key(self.opts.data_dir)
        secret = key_secret(None, self.opts.key_secret_file)
        try:
            asyncio.run(register_local_key(settings, secret, self.client_key))
        except Exception as exc:
            raise StackError(f"could not register the local client key: {exc}") from exc

    def stop(self, on_stopped: Callable[[str, int | None], None] | None = None) -> None:
        """Stop the parts one at a time in STOP_ORDER; a second Ctrl-C kills the rest."""
        order = [p for p in STOP_ORDER if p in self.processes]
        for i, part in enumerate(order):
            proc = self.processes[part]
            try:
                self._set(part, "stopping")
                code = proc.stop(timeout=STOP_TIMEOUTS[part])
            except KeyboardInterrupt:
                for rest in order[i:]:
                    self.processes[rest].kill()
                    self._set(rest, "killed")
                return
            self._set(part, "stopped", f"exit {code}")
            if on_stopped:
                on_stopped(part, code)

    # --- display ---------------------------------------------------------------------

    def progress(self) -> RenderableType:
        """The live table of parts and their state."""
        table = Table(title="modeltrail up", title_justify="left", box=None, padding=(0, 2))
        table.add_column("part")
        table.add_column("state")
        table.add_column("")
        for st in self.states.values():
            state: RenderableType
            if st.state in ("starting", "stopping"):
                state = Spinner("dots", text=Text(st.state, style="yellow"))
            else:
                style = {"ready": "green", "failed": "bold red", "stopped": "dim"}.get(st.state, "")
                state = Text(st.state, style=style)
            table.add_row(st.name, state, st.detail)
        return table

    def status_table(self) -> Table:
        """The table printed once everything is ready."""
        table = Table(title="modeltrail is running", title_justify="left", show_header=False)
        table.add_column(style="bold")
        table.add_column()
        rows = status_rows(
            self.opts, bootstrap=self.bootstrap, fake_url=self.fake_url, client_key=self.client_key
        )
        for what, where in rows:
            table.add_row(what, where)
        return table


def _rotate(log: Path) -> None:
    """Keep one previous log per part, so a tail shows this run only."""
    if log.exists():
        log.replace(log.with_suffix(".log.1"))


class _Live:
    """A rich Live display that redraws the stack's progress table."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def __rich__(self) -> RenderableType:
        return self.stack.progress()


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _paste_panel(opts: StackOptions, key: LocalKey) -> Panel:
    """The env lines to paste, with the key (printed whole: it is the user's own local key)."""
    from modeltrail.stack import client_env_lines

    lines = "\n".join(f"export {line}" for line in client_env_lines(opts, key.key))
    title = "new local client key" if key.created else "local client key"
    note = f"key id {key.key_id}, kept in {opts.data_dir / 'local-key.json'} (0600)"
    return Panel(f"{lines}\n[dim]{note}[/dim]", title=f"paste these: {title}", border_style="green")


def run_up(
    opts: StackOptions,
    console: Console | None = None,
    *,
    poll_s: float = 0.5,
    policy: RestartPolicy | None = None,
) -> int:
    """Start the stack, supervise it until Ctrl-C/SIGTERM or a part keeps failing; exit code."""
    console = console or Console()
    stack = Stack(opts)
    code = 0

    def report(part: str, what: str) -> None:
        proc = stack.processes.get(part)  # type: ignore[call-overload]
        if what == "restarted" or proc is None:
            console.print(f"[green]{part} {what}[/green]")
            return
        console.print(
            Panel(
                proc.tail(), title=f"{part} {what}", subtitle=str(proc.log_path), border_style="red"
            )
        )

    with _sigterm_as_interrupt():
        try:
            with Live(_Live(stack), console=console, refresh_per_second=8, transient=False):
                stack.start()
            console.line()
            console.print(stack.status_table())
            if stack.client_key is not None:
                console.print(_paste_panel(opts, stack.client_key))
            console.print("[dim]Ctrl-C stops the stack (proxy drains, sink flushes).[/dim]")
            policy = policy or RestartPolicy(max_failures=opts.restart_limit)
            supervisor = Supervisor(stack, report, policy)
            while supervisor.step():
                time.sleep(poll_s)
            code = 1
        except StackError as exc:
            console.line()
            console.print(Panel(str(exc), title="modeltrail up failed", border_style="red"))
            code = 1
        except KeyboardInterrupt:
            console.print("[yellow]stopping: proxy drains, sink flushes...[/yellow]")
        finally:
            try:
                stack.stop(lambda part, rc: console.print(f"  {part} stopped (exit {rc})"))
            except KeyboardInterrupt:
                pass
    console.print(Group(Text("modeltrail stopped", style="bold")))
    return code
