"""Ollama-compatible endpoints: `/api/chat`, `/api/generate` (NDJSON streams) and `/api/tags`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modeltrail.embedded.fake_backend.behaviour import (
    answer_for,
    conversation,
    count_words,
    reply_for,
    split_reply,
)
from modeltrail.embedded.fake_backend.core import Call, begin, json_response
from modeltrail.embedded.fake_backend.streaming import FrameStream, ndjson

__all__ = ["chat", "generate", "ollama_error", "tags"]

NDJSON = "application/x-ndjson"
_BROKEN = b'{"model": "broken", "message": {"content": "\n'
_TAGS = ("llama3.2:latest", "qwen2.5:0.5b")


def ollama_error(status: int, message: str) -> Response:
    """An error in Ollama's shape: `{"error": "..."}`."""
    return json_response({"error": message}, status)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _stats(prompt_tokens: int, eval_tokens: int) -> dict[str, Any]:
    """The counters Ollama puts on its final (`done: true`) object; durations in ns."""
    return {
        "done_reason": "stop",
        "total_duration": 1_000_000,
        "load_duration": 100_000,
        "prompt_eval_count": prompt_tokens,
        "prompt_eval_duration": 200_000,
        "eval_count": eval_tokens,
        "eval_duration": 700_000,
    }


def _model(call: Call) -> str:
    model = call.body.get("model")
    return model if isinstance(model, str) and model else "llama3.2:latest"


async def chat(request: Request) -> Response:
    """`POST /api/chat`: NDJSON stream unless `"stream": false`; tool calls when scripted."""
    call = await begin(request, ollama_error)
    if not isinstance(call, Call):
        return call
    model = _model(call)
    texts, last_user = conversation(call.body.get("messages"))
    prompt_tokens = count_words(texts)
    tool, reply, eval_tokens = answer_for(
        call.behaviour,
        last_user,
        tools=bool(call.body.get("tools")),
        provider="ollama",
        model=model,
        prompt_words=prompt_tokens,
    )
    final_message: dict[str, Any] = {"role": "assistant", "content": reply}
    if tool:
        final_message["tool_calls"] = [{"function": {"name": tool.name, "arguments": tool.input}}]
    created = _now()
    if call.body.get("stream", True) is False:
        return json_response(
            {
                "model": model,
                "created_at": created,
                "message": final_message,
                "done": True,
                **_stats(prompt_tokens, eval_tokens),
            }
        )
    frames = [
        ndjson(
            {
                "model": model,
                "created_at": created,
                "message": {"role": "assistant", "content": part},
                "done": False,
            }
        )
        for part in split_reply(reply, call.behaviour)
    ]
    if tool:  # Ollama sends tool calls whole, in a message before the final one
        frames.append(
            ndjson({"model": model, "created_at": created, "message": final_message, "done": False})
        )
    last = {"role": "assistant", "content": ""}
    frames.append(
        ndjson(
            {
                "model": model,
                "created_at": created,
                "message": last,
                "done": True,
                **_stats(prompt_tokens, eval_tokens),
            }
        )
    )
    return FrameStream(frames, call.behaviour, media_type=NDJSON, broken=_BROKEN)


async def generate(request: Request) -> Response:
    """`POST /api/generate`: NDJSON stream of `response` pieces unless `"stream": false`."""
    call = await begin(request, ollama_error)
    if not isinstance(call, Call):
        return call
    model = _model(call)
    prompt = call.body.get("prompt")
    prompt = prompt if isinstance(prompt, str) else ""
    system = call.body.get("system")
    prompt_tokens = count_words([prompt, system if isinstance(system, str) else ""])
    reply = reply_for(call.behaviour, prompt, "ollama", model, prompt_tokens)
    stats = _stats(prompt_tokens, count_words([reply]))
    created = _now()
    if call.body.get("stream", True) is False:
        return json_response(
            {
                "model": model,
                "created_at": created,
                "response": reply,
                "done": True,
                "context": [],
                **stats,
            }
        )
    frames = [
        ndjson({"model": model, "created_at": created, "response": part, "done": False})
        for part in split_reply(reply, call.behaviour)
    ]
    frames.append(
        ndjson(
            {
                "model": model,
                "created_at": created,
                "response": "",
                "done": True,
                "context": [],
                **stats,
            }
        )
    )
    return FrameStream(frames, call.behaviour, media_type=NDJSON, broken=_BROKEN)


async def tags(request: Request) -> Response:
    """`GET /api/tags`: the locally "installed" models."""
    call = await begin(request, ollama_error)
    if not isinstance(call, Call):
        return call
    models = [
        {
            "name": name,
            "model": name,
            "modified_at": "2026-01-01T00:00:00Z",
            "size": 1_000_000,
            "digest": f"{index:064x}",
            "details": {
                "format": "gguf",
                "family": "llama",
                "parameter_size": "1B",
                "quantization_level": "Q4_0",
            },
        }
        for index, name in enumerate(_TAGS, start=1)
    ]
    return json_response({"models": models})
