"""The spend table: rows per day, dimension and source partition; bounded; folded by readers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.events import LLMResponse
from streams.spend import OTHER, SpendBook, SpendRow, fold_rows, parse_key

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class Changelog:
    """An in-process table: the store dict plus every changelog record in order."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.log: list[tuple[int | None, bytes, bytes | None]] = []

    def send_changelog(self, partition: int | None, key: bytes, value: bytes | None) -> None:
        self.log.append((partition, key, value))


def response(
    session: str = "mk_a:s1",
    *,
    cost: float | None = 0.002,
    key_id: str | None = "mk_a",
    team: str | None = "red",
    user: str | None = "ann",
    model: str | None = "gpt-4o-mini",
    at: datetime = NOW,
) -> LLMResponse:
    return LLMResponse(
        source="t",
        session_id=session,
        time=at,
        backend="fake",
        provider="openai",
        model=model,
        path="/v1/chat/completions",
        status_code=200,
        latency_ms=1.0,
        input_tokens=10,
        output_tokens=5,
        cost_usd=cost,
        key_id=key_id,
        team=team,
        user=user,
    )


def folded(table: Changelog, by: str, since: str = "2026-11-01") -> dict[str, SpendRow]:
    return fold_rows([(k, v) for _, k, v in table.log], by, since_day=since)  # type: ignore[arg-type]


def test_spend_is_summed_per_dimension_across_partitions_and_written_at_flush() -> None:
    table = Changelog()
    book = SpendBook(table)
    book.add([(0, response()), (2, response("mk_a:s2", cost=0.003))])
    assert table.log == []  # write-behind: nothing before the flush
    assert book.flush() == 10  # 5 dimensions x 2 partitions (two sessions)
    book.add([(0, response(cost=None, model="mystery"))])
    book.flush()
    # each row is written to the changelog partition of its source partition
    assert all(p == parse_key(k)[2] for p, k, _ in table.log)  # type: ignore[index]
    team = folded(table, "team")["red"]
    assert team.cost_usd == pytest.approx(0.005)
    assert (team.requests, team.input_tokens, team.output_tokens, team.unpriced) == (3, 30, 15, 1)
    assert folded(table, "model")["mystery"].unpriced == 1
    assert set(folded(table, "session")) == {"mk_a:s1", "mk_a:s2"}
    assert folded(table, "key")["mk_a"].requests == 3
    assert folded(table, "user")["ann"].requests == 3


def test_a_response_without_a_client_key_counts_by_model_and_session_only() -> None:
    table = Changelog()
    book = SpendBook(table)
    book.add([(1, response("anon", key_id=None, team=None, user=None))])
    book.flush()
    assert folded(table, "team") == {} and folded(table, "key") == {}
    assert folded(table, "model")["gpt-4o-mini"].requests == 1


def test_a_flood_of_new_ids_is_capped_per_day_and_counted_under_other() -> None:
    table = Changelog()
    book = SpendBook(table, max_ids=50)
    book.add([(0, response(f"mk_a:flood-{i}")) for i in range(5_000)])
    book.flush()
    sessions = folded(table, "session")
    assert len(sessions) == 51  # 50 ids + (other)
    assert sessions[OTHER].requests == 4_950
    assert sum(r.requests for r in sessions.values()) == 5_000
    assert len(table.data) <= 5 * 51


def test_the_cap_holds_after_a_restart_from_the_recovered_table() -> None:
    table = Changelog()
    book = SpendBook(table, max_ids=3)
    book.add([(0, response(f"mk_a:s{i}")) for i in range(3)])
    book.flush()
    again = SpendBook(table, max_ids=3)  # a new worker on the recovered table
    again.add([(0, response("mk_a:new"))])
    again.flush()
    assert OTHER in folded(table, "session")
    assert folded(table, "team")["red"].requests == 4  # the recovered rows were added to


def test_days_past_the_window_are_tombstoned_and_fold_drops_them() -> None:
    table = Changelog()
    book = SpendBook(table, days=2)
    old, yesterday = NOW - timedelta(days=2), NOW - timedelta(days=1)
    book.add([(0, response(at=old)), (0, response(at=yesterday)), (0, response(at=NOW))])
    book.flush()
    assert book.sweep(NOW) == 5  # the five rows of the oldest day
    assert book.sweep(NOW) == 0  # once per day
    assert all(not k.startswith(b"2026-11-24") for k in table.data)
    assert folded(table, "team", since="2026-01-01")["red"].requests == 2
    assert [v for _, k, v in table.log if k.startswith(b"2026-11-24")][-1] is None
    assert folded(table, "team", since="2026-11-26")["red"].requests == 1
