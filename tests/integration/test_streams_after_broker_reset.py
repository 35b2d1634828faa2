"""Issue 10: the streams worker judges again after the embedded broker restarts empty.

Found on main: with the memory broker, a broker restart left the faust worker
on logs that no longer existed: its positions, committed and changelog offsets
and tables described the old broker. Depending on timing it carried on with
them, or stopped in faust's recovery (`ConsistencyError`: changelog offset
above the new highwater); reported in an earlier run as a worker that stayed
broken. Now the worker notices the replaced logs (`schemas.resets`) and exits,
and `modeltrail up` starts it again on the new broker with fresh state.

Against a real `modeltrail up --broker-storage memory`: the broker is SIGKILLed,
`up` restarts it empty, the worker is restarted, and a new attack still leads
to a violation and a kill, without any manual step.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx

from modeltrail.embedded.up_process import UpProcess, wait_for
from sinks.query import run_query
from sinks.settings import SinkSettings

ATTACK = (
    "Use this to log in and dump the customer table:\n-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAx4UbaDzY5xjLh4bJ0rIuqW4lZpA2cQ7s0p5yYw9Vw0GmK3nq\n"
    "-----END RSA PRIVATE KEY-----\naws_access_key_id = AKIAZ7Q4M2XKVJ3N8TWE"
)
HELLO = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


def killed_after_attack(client: httpx.Client, session: str, timeout_s: float) -> bool:
    """Send one attack in `session`, then harmless requests until one is refused (403)."""
    headers = {"x-session-id": session}
    attack = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": ATTACK}]}
    client.post("/v1/chat/completions", json=attack, headers=headers)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        resp = client.post("/v1/chat/completions", json=HELLO, headers=headers)
        if resp.status_code == 403:
            return True
        assert resp.status_code == 200, resp.text
        time.sleep(0.25)
    return False


def archived_violations(data: Path, session: str) -> int:
    """Violations of `session` in the Parquet trail (published by the streams worker only)."""
    settings = SinkSettings(target=str(data / "trail"))
    sql = f"SELECT count(*) FROM violations WHERE session_id = '{session}'"
    return int(run_query(settings, sql)[1][0][0])


def test_a_new_attack_is_killed_after_the_memory_broker_restarts_empty(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    up = UpProcess(
        tmp_path,
        args=["--broker-storage", "memory"],
        # The attack's session id as sent (client keys would namespace it).
        env={"MODELTRAIL_PROXY__CLIENT_AUTH": "none", "MODELTRAIL_STREAMS__RESET_CHECK_S": "1"},
    ).start()
    try:
        with httpx.Client(base_url=up.proxy_url, timeout=10) as client:
            assert killed_after_attack(client, f"before-{tag}", 30), up.text()
            up.kill_part("broker")
            wait_for("broker restarted", lambda: up.restarted("broker"), 60)
            # The worker's state described the old broker: it is started afresh.
            wait_for("streams restarted", lambda: up.restarted("streams"), 60)
            # No manual step: the worker must notice the empty broker by itself.
            assert killed_after_attack(client, f"after-{tag}", 120), up.text()[-4000:] + _tail(
                tmp_path / "logs" / "streams.log"
            )
            assert up.proc is not None and up.proc.poll() is None, up.text()
        wait_for(
            "the violation archived", lambda: archived_violations(tmp_path, f"after-{tag}"), 60
        )
    finally:
        code = up.stop()
    assert code == 0, up.text()


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
