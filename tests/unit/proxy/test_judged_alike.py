"""Inline and out-of-band never disagree about what a request said (issue 9).

The proxy's inline check, the streams worker (reading the captured request event)
and `modeltrail policy eval` (reading the body) must reach the same verdict on
the same body: they all judge the parts `proxy.dialects` extracts.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from modeltrail.cmd_policy import app as policy_cli
from schemas.codec import decode, encode
from schemas.events import LLMRequest, Violation
from streams.policy import load_policy
from tests.unit.proxy.test_no_way_around import ATTACKS, BENIGN, _app, _post
from tests.unit.streams.test_streams_processor import TOPICS, Table, make, rec

BENIGN_BODIES = {
    "openai benign": ("/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": BENIGN}]}),
    "anthropic benign with tools": (
        "/v1/messages",
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 10,
            "system": "You are a coding assistant.",
            "messages": [{"role": "user", "content": BENIGN}],
            "tools": [{"name": "run_tests", "description": "Run the project's unit tests."}],
        },
    ),
}  # fmt: skip
ALL = {**ATTACKS, **BENIGN_BODIES}


@pytest.mark.parametrize(("path", "body"), list(ALL.values()), ids=list(ALL))
async def test_proxy_worker_and_cli_agree(path: str, body: dict[str, Any]) -> None:
    app, pub, _ = _app()
    inline_blocked = (await _post(app, path, body)).status_code == 403

    (event,) = pub.of(LLMRequest)
    worker = make(load_policy("standard"))  # type: ignore[arg-type]
    result = worker.process([rec(TOPICS.requests, 0, encode(event))], Table().load)
    violations = [v for v in (decode(o.value) for o in result.outputs) if isinstance(v, Violation)]
    worker_blocked = any(v.action in ("block", "kill") for v in violations)

    line = json.dumps({"path": path, "body": body})
    out = CliRunner().invoke(policy_cli, ["eval", "--preset", "standard"], input=line + "\n")
    assert out.exit_code == 0, out.output
    verdict = json.loads(out.output.splitlines()[0])  # then a summary line
    cli_blocked = verdict["action"] in ("block", "kill")

    assert inline_blocked == worker_blocked == cli_blocked
    assert inline_blocked is (body in [b for _, b in ATTACKS.values()])
