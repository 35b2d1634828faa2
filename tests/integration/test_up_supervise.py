"""`modeltrail up` supervises its parts, and a restart on the same data directory keeps the trail.

Found on main: a dead broker made `up` stop every part (590 of 1,000 client
requests refused), and a second `up` on the same data directory wrote files
under the first run's keys, replacing them (100 of 100 older rows gone). Here,
with the memory broker (the case where offsets start over):

1. the broker is SIGKILLed under traffic: the proxy keeps answering 200 (it
   spools), `up` restarts the broker, and every request reaches the trail once;
2. `up` is stopped and started again on the same data directory: the first
   run's rows are all still there beside the second run's.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from modeltrail.embedded.up_process import UpProcess, wait_for
from proxy.keys.local import load_local_key
from sinks.query import run_query
from sinks.settings import SinkSettings


def send(client: httpx.Client, session: str, n: int) -> list[int]:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}
    return [
        client.post(
            "/v1/chat/completions", json=body, headers={"x-session-id": session}
        ).status_code
        for _ in range(n)
    ]


def viewed(data: Path) -> dict[str, int]:
    """{session: requests as the views read them (once per event)} of the trail.

    Sessions are named inside the local client key (`mk_...:<name>`); keyed by name here.
    """
    settings = SinkSettings(target=str(data / "trail"))
    _, rows = run_query(settings, "SELECT session_id, count(*) FROM requests GROUP BY 1")
    return {str(sid).split(":", 1)[-1]: n for sid, n in rows}


def keyed_client(up: UpProcess, data: Path) -> httpx.Client:
    """A client sending the local key `up` created in `data` (the same across restarts)."""
    local = load_local_key(data)
    assert local is not None, up.text()
    headers = {"authorization": f"Bearer {local.key}"}
    return httpx.Client(base_url=up.proxy_url, timeout=10, headers=headers)


def test_up_restarts_a_dead_broker_and_a_second_up_keeps_the_trail(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    up = UpProcess(tmp_path, args=["--broker-storage", "memory"]).start()
    try:
        with keyed_client(up, tmp_path) as client:
            assert send(client, f"before-{tag}", 20) == [200] * 20
            # With the memory broker what the sink has not written yet dies with the
            # broker (the exposure window, README): kill it once the sink has.
            wait_for("first rows archived", lambda: viewed(tmp_path) == {f"before-{tag}": 20}, 30)
            up.kill_part("broker")
            assert send(client, f"during-{tag}", 20) == [200] * 20  # spooled, not refused
            wait_for("broker restarted", lambda: up.restarted("broker"), 30)
            assert up.proc is not None and up.proc.poll() is None, up.text()
            assert send(client, f"after-{tag}", 20) == [200] * 20
        expected = {f"{s}-{tag}": 20 for s in ("before", "during", "after")}
        wait_for("first run archived", lambda: viewed(tmp_path) == expected, 60)
    finally:
        code = up.stop()
    assert code == 0, up.text()

    again = UpProcess(tmp_path, args=["--broker-storage", "memory"], ports=up.ports).start()
    try:
        with keyed_client(again, tmp_path) as client:
            assert send(client, f"second-{tag}", 20) == [200] * 20
        expected[f"second-{tag}"] = 20
        wait_for("both runs in the trail", lambda: viewed(tmp_path) == expected, 60)
    finally:
        assert again.stop() == 0, again.text()
