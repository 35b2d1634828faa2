from __future__ import annotations

import orjson
import pyarrow as pa

from schemas import LLMRequest, arrow_schema, encode
from sinks.decode import decode_values

SCHEMA = arrow_schema(LLMRequest)
TYPE = "llm.request.v1"


def req(i: int) -> LLMRequest:
    return LLMRequest(
        source="t", session_id=f"s{i}", backend="b", provider="openai", path="/v1/x", max_tokens=i
    )


def test_fast_path_matches_the_models() -> None:
    events = [req(i) for i in range(50)]
    out = decode_values([encode(e) for e in events], SCHEMA, TYPE)
    assert out.bad == {}
    assert out.table.schema == SCHEMA
    assert out.table["event_id"].to_pylist() == [e.event_id for e in events]
    assert out.table["max_tokens"].to_pylist() == list(range(50))
    assert out.times_us[0] == int(events[0].time.timestamp() * 1_000_000)


def test_bad_records_are_isolated_with_a_reason() -> None:
    good = [req(i) for i in range(3)]
    wrong_type = orjson.dumps({**orjson.loads(encode(good[0])), "type": "llm.response.v1"})
    no_session = orjson.dumps(
        {k: v for k, v in orjson.loads(encode(good[0])).items() if k != "session_id"}
    )
    values = [
        encode(good[0]),
        b"{oops",
        encode(good[1]),
        wrong_type,
        None,
        no_session,
        encode(good[2]),
    ]
    out = decode_values(values, SCHEMA, TYPE)
    assert sorted(out.bad) == [1, 3, 4, 5]
    assert out.bad[4] == "tombstone"
    assert "not" in out.bad[1]
    assert out.table["session_id"].to_pylist() == ["s0", "s1", "s2"]
    assert [t is None for t in out.times_us] == [False, True, False, True, True, True, False]
    assert out.row_range(0, 3) == (0, 2)
    assert out.row_range(3, 7) == (2, 3)


def test_unknown_field_is_kept_as_a_new_column_and_pretty_json_is_accepted() -> None:
    e = req(1)
    extra = orjson.dumps({**orjson.loads(encode(e)), "tenant": "acme"})
    pretty = orjson.dumps(orjson.loads(encode(req(2))), option=orjson.OPT_INDENT_2)
    out = decode_values([extra, pretty], SCHEMA, TYPE)
    assert out.bad == {}
    assert out.table["tenant"].to_pylist() == ["acme", None]
    assert pa.types.is_string(out.table.schema.field("tenant").type)


def test_unknown_field_with_conflicting_types_across_fetches_still_encodes() -> None:
    from sinks.parquet import conform

    a = orjson.dumps({**orjson.loads(encode(req(1))), "extra": 5})
    b = orjson.dumps({**orjson.loads(encode(req(2))), "extra": {"k": [1, 2]}})
    tables = [decode_values([v], SCHEMA, TYPE).table for v in (a, b)]
    merged = conform(tables, SCHEMA)
    assert merged["extra"].to_pylist() == ["5", '{"k":[1,2]}']
    assert merged.schema.names[: len(SCHEMA)] == SCHEMA.names
