"""Stream rehydration: any byte split, per provider; the client stream stays well-formed."""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
import pytest

from proxy.pii.placeholders import Restorer, placeholder
from proxy.pii.rehydrate import StreamRehydrator, TextRehydrator, restore_body, restore_value
from proxy.sse import StreamParser

SCOPE = {placeholder("EMAIL", 1): "a@b.example", placeholder("CARD", 1): "4539 1488 0343 6467"}
TEXT = "Mail \u27e6EMAIL_1\u27e7 about \u27e6CARD_1\u27e7, not \u27e6EMAIL_7\u27e7."
RAW = "Mail a@b.example about 4539 1488 0343 6467, not \u27e6EMAIL_7\u27e7."
ARGS = json.dumps({"to": "\u27e6EMAIL_1\u27e7", "card": "\u27e6CARD_1\u27e7"})  # escaped brackets
RAW_ARGS = {"to": "a@b.example", "card": "4539 1488 0343 6467"}


def _pieces(text: str, n: int) -> list[str]:
    step = max(1, len(text) // n)
    return [text[i : i + step] for i in range(0, len(text), step)]


def _openai() -> bytes:
    out = []
    for p in _pieces(TEXT, 17):
        out.append({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]})  # fmt: skip
    head = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "send", "arguments": ""},
    }
    out.append({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [head]}}]})
    for p in _pieces(ARGS, 13):
        call = {"index": 0, "function": {"arguments": p}}
        out.append({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
    out.append({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return b"".join(b"data: " + orjson.dumps(o) + b"\n\n" for o in out) + b"data: [DONE]\n\n"


def _anthropic() -> bytes:
    events: list[tuple[str, dict[str, object]]] = [
        ("message_start", {"type": "message_start", "message": {"model": "m", "usage": {}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ]  # fmt: skip
    for p in _pieces(TEXT, 17):
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}))  # fmt: skip
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t", "name": "send", "input": {}}}))  # fmt: skip
    for p in _pieces(ARGS, 13):
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": p}}))  # fmt: skip
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 1}))
    events.append(("message_stop", {"type": "message_stop"}))
    return b"".join(f"event: {n}\ndata: ".encode() + orjson.dumps(d) + b"\n\n" for n, d in events)


def _ollama() -> bytes:
    lines = [{"model": "m", "message": {"role": "assistant", "content": p}, "done": False} for p in _pieces(TEXT, 17)]  # fmt: skip
    lines.append({"model": "m", "message": {"role": "assistant", "content": ""}, "done": True})
    return b"".join(orjson.dumps(x) + b"\n" for x in lines)


STREAMS = {"openai": _openai, "anthropic": _anthropic, "ollama": _ollama}


@pytest.mark.parametrize("provider", list(STREAMS))
@pytest.mark.parametrize("seed", range(12))
def test_any_byte_split_gives_raw_text_and_well_formed_events(provider: str, seed: int) -> None:
    data = STREAMS[provider]()
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, 200)))
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    rh = StreamRehydrator(provider, Restorer(SCOPE), ndjson=provider == "ollama")
    out = b"".join(rh.feed(c) for c in chunks) + rh.finish()
    parser = StreamParser(provider, ndjson=provider == "ollama")  # type: ignore[arg-type]
    parser.feed(out)
    got = parser.finish()
    assert parser.malformed == 0
    assert got.text == RAW
    if provider != "ollama":
        assert [json.loads(c.arguments) for c in got.tool_calls] == [RAW_ARGS]
    sep = b"\n" if provider == "ollama" else b"\n\n"
    for block in out.split(sep):  # every event is one complete JSON payload
        payload = block.split(b"data: ", 1)[-1].strip()
        if payload and payload != b"[DONE]":
            orjson.loads(payload)


def test_body_restores_strings_and_tool_arguments() -> None:
    body = {
        "choices": [
            {"message": {"content": TEXT, "tool_calls": [{"function": {"arguments": ARGS}}]}}
        ]
    }
    out = orjson.loads(restore_body(Restorer(SCOPE), orjson.dumps(body)))
    msg = out["choices"][0]["message"]
    assert msg["content"] == RAW
    assert json.loads(msg["tool_calls"][0]["function"]["arguments"]) == RAW_ARGS


def test_body_without_placeholders_is_relayed_byte_for_byte() -> None:
    body = b'{"a":  "plain text", "b": [1, 2]}'
    assert restore_body(Restorer(SCOPE), body) is body


@pytest.mark.parametrize("seed", range(20))
def test_unframed_json_answer_restored_at_any_byte_split(seed: int) -> None:
    """A JSON answer sent without a length (chunked) is restored as JSON source text."""
    answer = orjson.dumps({"text": TEXT, "args": ARGS, "note": "caf\u00e9 \u27e6 open"})
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(answer)), 12))
    chunks = [answer[a:b] for a, b in zip([0, *cuts], [*cuts, len(answer)], strict=True)]
    r = TextRehydrator(Restorer(SCOPE), json=True)
    out = b"".join(r.feed(c) for c in chunks) + r.finish()
    got = orjson.loads(out)
    assert got["text"] == RAW and json.loads(got["args"]) == RAW_ARGS
    assert got["note"] == "caf\u00e9 \u27e6 open"


@pytest.mark.parametrize("seed", range(10))
def test_unframed_text_answer_restored_at_any_byte_split(seed: int) -> None:
    answer = ("caf\u00e9 " + TEXT + " [EMAIL_1] end").encode()
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(answer)), 15))
    chunks = [answer[a:b] for a, b in zip([0, *cuts], [*cuts, len(answer)], strict=True)]
    r = TextRehydrator(Restorer(SCOPE), json=False)
    out = b"".join(r.feed(c) for c in chunks) + r.finish()
    assert out.decode() == "caf\u00e9 " + RAW + " a@b.example end"


def test_unframed_binary_answer_passes_unchanged() -> None:
    r = TextRehydrator(Restorer(SCOPE), json=False)
    first = r.feed(b"EMAIL_1 then ")
    data = b"\xff\xfe binary EMAIL_1"
    assert first + r.feed(data) + r.finish() == b"a@b.example then " + data


@pytest.mark.parametrize(
    ("scope", "answer", "expected"),
    [
        # exact placeholders only: replaced without a parse
        (SCOPE, {"t": TEXT, "k": {"\u27e6EMAIL_1\u27e7": 1}}, {"t": RAW, "k": {"a@b.example": 1}}),
        # a value needing JSON escaping inside JSON-in-JSON (tool arguments)
        (
            {placeholder("PASSWORD", 1): 'p"w\\d'},
            {"args": json.dumps({"pw": "\u27e6PASSWORD_1\u27e7"}, ensure_ascii=False)},
            {"args": json.dumps({"pw": 'p"w\\d'}, ensure_ascii=False)},
        ),
        # a client's look-alike comes back verbatim, never as the other value
        (
            {
                placeholder("LITERAL", 1): "\u27e6EMAIL_1\u27e7",
                placeholder("EMAIL", 1): "v@x.example",
            },
            {"t": "\u27e6LITERAL_1\u27e7 and \u27e6EMAIL_1\u27e7"},
            {"t": "\u27e6EMAIL_1\u27e7 and v@x.example"},
        ),
        # a damaged form beside an exact one
        (SCOPE, {"t": "\u27e6EMAIL_1\u27e7 [CARD_1]"}, {"t": "a@b.example 4539 1488 0343 6467"}),
    ],
    ids=["exact", "escaped-nested", "literal", "damaged"],
)
def test_restore_body_fast_and_thorough_paths_agree(
    scope: dict[str, str], answer: dict[str, Any], expected: dict[str, Any]
) -> None:
    body = orjson.dumps(answer)
    assert orjson.loads(restore_body(Restorer(scope), body)) == expected
    nested = json.loads(orjson.loads(restore_body(Restorer(scope), body)).get("args", "null"))
    assert nested is None or isinstance(nested, dict)


@pytest.mark.parametrize(
    "text",
    [
        "Mail \u27e6EMAIL_1\u27e7 and \u27e6CARD_1\u27e7.",  # written ASCII-only below
        "a backslash \\u27e6EMAIL_1\u27e7 stays text",  # `\\u27e6` is not a bracket
        "nested " + json.dumps({"to": "\u27e6EMAIL_1\u27e7"}),
    ],
    ids=["ascii-escaped", "backslash", "nested"],
)
def test_ascii_only_answers_restore_like_the_thorough_path(text: str) -> None:
    body = json.dumps({"t": text}).encode()  # ensure_ascii: brackets as \u27e6
    thorough = restore_value(Restorer(SCOPE), json.loads(body))[0]
    assert json.loads(restore_body(Restorer(SCOPE), body)) == thorough
