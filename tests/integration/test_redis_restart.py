"""A Redis restart costs no request: the proxy's clients retry on a fresh connection.

Found by `bench/chaos.py` (Redis scenario): after a Redis restart the PII vault's
pooled connection was dead, the first request carrying a secret got 503, and it
never reached the audit trail.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from modeltrail.embedded.process import free_port, port_open
from modeltrail.embedded.up_process import wait_for
from proxy.pii.store import RedisVaultStore


class _Redis:
    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log = port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        wait_for("redis-server", lambda: port_open("127.0.0.1", self.port), 20)

    def restart(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.start()


@pytest.fixture
def private_redis(logs_dir: Path) -> Iterator[_Redis]:
    """A redis-server of this test's own (never the shared one): it gets restarted."""
    server = _Redis(free_port(), logs_dir / "redis-restart.log")
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None:
            server.proc.kill()
            server.proc.wait()


async def test_the_pii_vault_works_on_after_a_redis_restart(private_redis: _Redis) -> None:
    store = RedisVaultStore(f"redis://127.0.0.1:{private_redis.port}/0", key_prefix="t:", ttl_s=60)
    await store.start()
    try:
        assert await store.add("s1", "EMAIL_1", b"a@example.com") == b"a@example.com"
        private_redis.restart()  # empty again: no persistence
        assert await store.read("s1") == {}
        assert await store.add("s1", "EMAIL_1", b"b@example.com") == b"b@example.com"
    finally:
        await store.stop()
