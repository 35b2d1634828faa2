"""Incremental stream parsing under every split, and the stream-window cutter."""

from __future__ import annotations

import itertools
import json
import time

import orjson
import pytest

from proxy.sse import MAX_TOOL_CALLS, StreamParser, WindowCutter
from schemas.events import Provider


def _sse(*objs: object, events: list[str] | None = None) -> bytes:
    out = []
    for i, obj in enumerate(objs):
        head = f"event: {events[i]}\n" if events else ""
        out.append(f"{head}data: {json.dumps(obj)}\n\n")
    return "".join(out).encode()


OPENAI = (
    _sse(
        {"model": "gpt-4o", "choices": [{"delta": {"role": "assistant", "content": ""}}]},
        {"choices": [{"delta": {"content": "héllo "}}]},
        {"choices": [{"delta": {"content": "wörld ✓"}}]},
        {
            "choices": [
                {
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "c1", "function": {"name": "get", "arguments": ""}}
                        ]
                    }
                }
            ]
        },
        {
            "choices": [
                {"delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}}
            ]
        },
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}}]},
        {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}},
    )
    + b"data: [DONE]\n\n"
)

ANTHROPIC = _sse(
    {"type": "message_start", "message": {"model": "claude-3", "usage": {"input_tokens": 9, "output_tokens": 1}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "héllo "}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "wörld ✓"}},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t1", "name": "get"}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"a":'}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "1}"}},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 4}},
    {"type": "message_stop"},
    events=["message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
            "content_block_start", "content_block_delta", "content_block_delta", "message_delta", "message_stop"],
)  # fmt: skip

OLLAMA = b"".join(
    json.dumps(o).encode() + b"\n"
    for o in (
        {"model": "llama3", "message": {"content": "héllo "}, "done": False},
        {"model": "llama3", "message": {"content": "wörld ✓"}, "done": False},
        {"model": "llama3", "message": {"content": "", "tool_calls": [{"function": {"name": "get", "arguments": {"a": 1}}}]}, "done": False},
        {"model": "llama3", "message": {"content": ""}, "done": True, "done_reason": "stop", "prompt_eval_count": 3, "eval_count": 4},
    )
)  # fmt: skip

RESPONSES = _sse(
    {"type": "response.created", "response": {}},
    {"type": "response.output_text.delta", "delta": "héllo "},
    {"type": "response.output_text.delta", "delta": "wörld ✓"},
    {"type": "response.output_item.added", "output_index": 1, "item": {"type": "function_call", "call_id": "c1", "name": "get"}},
    {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": '{"a":1}'},
    {"type": "response.completed", "response": {"model": "gpt-4o", "status": "completed", "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}}},
)  # fmt: skip

CASES: list[tuple[Provider, bytes]] = [
    ("openai", OPENAI),
    ("anthropic", ANTHROPIC),
    ("ollama", OLLAMA),
    ("openai", RESPONSES),
]


def _splits(data: bytes) -> list[list[bytes]]:
    whole = [data]
    bytewise = [data[i : i + 1] for i in range(len(data))]
    sevens = [data[i : i + 7] for i in range(0, len(data), 7)]
    return [whole, bytewise, sevens]


@pytest.mark.parametrize(
    ("provider", "data"), CASES, ids=["openai", "anthropic", "ollama", "responses"]
)
def test_same_result_under_any_split(provider: Provider, data: bytes) -> None:
    for chunks in _splits(data):
        parser = StreamParser(provider, ndjson=provider == "ollama")
        streamed = "".join(parser.feed(c) for c in chunks)
        result = parser.finish()
        assert result.text == streamed == "héllo wörld ✓"
        assert parser.chars == len(result.text)
        assert [(c.name, json.loads(c.arguments)) for c in result.tool_calls] == [("get", {"a": 1})]
        assert result.input_tokens in (3, 9) and result.output_tokens == 4
        assert parser.malformed == 0


def test_crlf_and_trailing_line_without_newline() -> None:
    data = b'data: {"choices":[{"delta":{"content":"a"}}]}\r\n\r\ndata: {"choices":[{"delta":{"content":"b"}}]}'
    parser = StreamParser("openai")
    assert parser.feed(data) == "a"
    assert parser.finish().text == "ab"


def test_malformed_lines_are_counted_not_raised() -> None:
    parser = StreamParser("openai")
    parser.feed(b"data: {not json\n\n: comment\n\nevent: x\ndata: [DONE]\n\n")
    assert parser.malformed == 1 and parser.finish().text == ""


def test_stream_error_events_are_captured() -> None:
    p = StreamParser("anthropic")
    p.feed(_sse({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}))
    assert p.finish().error_type == "overloaded_error"
    o = StreamParser("ollama")
    o.feed(b'{"error":"boom"}\n')
    assert o.finish().error_message == "boom"


def test_window_cutter_covers_text_with_overlap() -> None:
    cutter = WindowCutter(size=10, overlap=3)
    text = "".join(chr(ord("a") + i % 26) for i in range(47))
    windows = []
    for i in range(0, len(text), 4):
        windows += cutter.feed(text[i : i + 4])
    last = cutter.finish()
    assert last is not None
    windows.append(last)
    assert [w[0] for w in windows] == list(range(len(windows)))
    for _, offset, chunk in windows:
        assert text[offset : offset + len(chunk)] == chunk
        assert len(chunk) <= 10
    for (_, o1, c1), (_, o2, _) in itertools.pairwise(windows):
        assert o2 == o1 + len(c1) - 3  # consecutive windows overlap by 3
    assert windows[-1][1] + len(windows[-1][2]) == len(text)  # nothing left out
    assert cutter.finish() is None


def test_window_cutter_no_empty_tail() -> None:
    cutter = WindowCutter(size=5, overlap=2)
    assert [w[2] for w in cutter.feed("abcde")] == ["abcde"]
    assert cutter.finish() is None  # the 2 overlap chars were already sent
    assert WindowCutter(5, 0).finish() is None
    with pytest.raises(ValueError):
        WindowCutter(5, 5)


def test_unexpected_shapes_never_raise() -> None:
    parser = StreamParser("openai")
    data = b'data: {"choices":["nope"]}\n\ndata: {"choices":[{"delta":{"tool_calls":[1]}}]}\n\n'
    assert parser.feed(data) == ""
    assert parser.malformed == 2
    anth = StreamParser("anthropic")
    anth.feed(b'data: {"type":"content_block_delta","delta":"x"}\n\n')
    assert anth.malformed == 1


def _delta(text: str) -> bytes:
    return b"data: " + orjson.dumps({"choices": [{"delta": {"content": text}}]}) + b"\n\n"


def test_a_line_that_never_ends_is_dropped_in_linear_time() -> None:
    p = StreamParser("openai", max_line_bytes=64 * 1024)
    started = time.perf_counter()
    for _ in range(20_000):  # 20 MB of one line, 1 KB at a time
        assert p.feed(b"x" * 1024) == ""
    assert time.perf_counter() - started < 1.0
    assert p.oversized == 1 and p._pending_size == 0
    assert p.feed(b"\n" + _delta("after")) == "after"  # the parser recovers at the newline
    assert p.finish().text == "after"


def test_assembled_text_and_tool_arguments_are_capped_windows_are_not() -> None:
    p = StreamParser("openai", max_chars=1000)
    seen = "".join(p.feed(_delta("y" * 100)) for _ in range(50))
    assert len(seen) == 5000 and p.chars == 5000  # windows see everything
    for i in range(500):
        call = {"index": i, "id": f"c{i}", "function": {"name": "f", "arguments": "a" * 5000}}
        p.feed(b"data: " + orjson.dumps({"choices": [{"delta": {"tool_calls": [call]}}]}) + b"\n")
    result = p.finish()
    assert len(result.text) == 1000 and p.truncated
    assert len(result.tool_calls) == MAX_TOOL_CALLS
    assert all(len(c.arguments) == 1000 for c in result.tool_calls)


def test_lines_split_anywhere_still_parse() -> None:
    data = b"".join(_delta(w) for w in ("alpha ", "beta ", "gamma"))
    for size in (1, 2, 7, 64):
        p = StreamParser("openai")
        out = "".join(p.feed(data[i : i + size]) for i in range(0, len(data), size))
        assert out == "alpha beta gamma" == p.finish().text
