"""Per-session spend and identity in the streams session state (and its changelog bytes)."""

from __future__ import annotations

import pytest

from schemas.events import LLMResponse
from streams.state import SessionState


def _resp(cost: float | None) -> LLMResponse:
    return LLMResponse(
        source="p", session_id="mk_a:s", backend="b", provider="openai", path="/p",
        status_code=200, latency_ms=1, total_tokens=5, cost_usd=cost, key_id="mk_a", team="red",
    )  # fmt: skip


def test_cost_adds_up_and_survives_the_changelog() -> None:
    state = SessionState("mk_a:s")
    for i, cost in enumerate((0.25, None, 0.5)):
        state.observe(_resp(cost), now=100.0 + i)
    again = SessionState.from_bytes(state.to_bytes())
    assert again.cost_usd_total == pytest.approx(0.75) and again.tokens_total == 15
    assert (again.key_id, again.team) == ("mk_a", "red")
    # A record written before these fields existed still reads.
    old = SessionState.from_bytes(b'{"session_id": "x", "tokens_total": 3}')
    assert old.cost_usd_total == 0.0 and old.key_id is None
