from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sinks.keys import KeyParts, conflict_key, incarnation_tag, object_key, parse_key


def test_key_layout_dated_by_event_time_in_utc() -> None:
    when = datetime(2026, 3, 1, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    key = object_key("trail/v1", "requests", "p.llm.requests", 2, 1234, when)
    assert (
        key
        == "trail/v1/requests/dt=2026-02-28/hour=23/p.llm.requests+2+0000000000000001234.parquet"
    )
    assert parse_key(key) == KeyParts(
        "trail/v1", "requests", "2026-02-28", 23, "p.llm.requests", 2, 1234
    )


def test_empty_prefix_has_no_leading_slash() -> None:
    key = object_key("", "violations", "audit.violations", 0, 0, datetime(2026, 1, 1, tzinfo=UTC))
    assert key.startswith("violations/dt=2026-01-01/hour=00/")
    assert parse_key(key).prefix == ""


def test_rejects_slashes_and_foreign_keys() -> None:
    with pytest.raises(ValueError):
        object_key("", "requests", "a/b", 0, 0, datetime.now(UTC))
    with pytest.raises(ValueError):
        parse_key("requests/some-file.parquet")


def test_tag_tells_incarnations_apart_and_old_keys_still_parse() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    first = object_key("", "requests", "t", 0, 0, when, incarnation_tag("event-a"))
    again = object_key("", "requests", "t", 0, 0, when, incarnation_tag("event-a"))
    reset = object_key("", "requests", "t", 0, 0, when, incarnation_tag("event-b"))
    assert first == again  # a replay of the same records writes the same key
    assert first != reset  # offsets that start over after a broker reset do not
    assert parse_key(first).tag == incarnation_tag("event-a")
    legacy = "requests/dt=2026-01-01/hour=00/t+0+0000000000000000000.parquet"
    assert parse_key(legacy).tag == ""
    side = conflict_key(first, "ab" * 32)
    assert side.endswith("~abababababab.parquet")
    assert parse_key(side).conflict == "abababababab"
    assert parse_key(side).tag == parse_key(first).tag
