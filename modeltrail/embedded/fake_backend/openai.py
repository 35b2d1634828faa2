"""OpenAI-compatible endpoints: chat completions, completions, embeddings, models, files."""

from __future__ import annotations

import base64
import hashlib
import math
import random
import struct
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from modeltrail.embedded.fake_backend.behaviour import (
    ToolCall,
    answer_for,
    conversation,
    count_words,
    reply_for,
    split_chars,
    split_reply,
)
from modeltrail.embedded.fake_backend.core import Call, begin, json_response
from modeltrail.embedded.fake_backend.streaming import FrameStream, sse

__all__ = [
    "MODELS",
    "chat_completions",
    "completions",
    "embeddings",
    "files",
    "list_models",
    "openai_error",
]

MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "claude-3-5-sonnet-latest")
DEFAULT_DIMENSIONS = 16
_DONE = b"data: [DONE]\n\n"


def openai_error(status: int, message: str) -> Response:
    """An error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`."""
    if status == 429:
        kind, code = "requests", "rate_limit_exceeded"
    elif status == 401:
        kind, code = "invalid_request_error", "invalid_api_key"
    elif status == 404:
        kind, code = "invalid_request_error", "not_found"
    elif status >= 500:
        kind, code = "server_error", None
    else:
        kind, code = "invalid_request_error", None
    headers = {"retry-after": "1"} if status in (429, 503) else None
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return json_response(body, status, headers)


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def _tool_json(call_id: str, tool: ToolCall) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": tool.name, "arguments": tool.arguments},
    }


async def chat_completions(request: Request) -> Response:
    """`POST /v1/chat/completions`, streamed as SSE chunks when `stream` is true."""
    call = await begin(request, openai_error)
    if not isinstance(call, Call):
        return call
    texts, last_user = conversation(call.body.get("messages"))
    prompt_tokens = count_words(texts)
    tool, reply, completion_tokens = answer_for(
        call.behaviour,
        last_user,
        tools=bool(call.body.get("tools")),
        provider="openai",
        model=call.model,
        prompt_words=prompt_tokens,
    )
    usage = _usage(prompt_tokens, completion_tokens)
    completion_id = call.backend.next_id("chatcmpl-")
    call_id = call.backend.next_id("call_") if tool else ""
    finish = "tool_calls" if tool else "stop"
    if not call.body.get("stream"):
        message: dict[str, Any] = {"role": "assistant", "content": reply, "refusal": None}
        if tool:
            message["content"] = None
            message["tool_calls"] = [_tool_json(call_id, tool)]
        return json_response(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": call.created,
                "model": call.model,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
                ],
                "usage": usage,
            }
        )
    with_usage = _include_usage(call.body)
    base = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": call.created,
        "model": call.model,
        "system_fingerprint": "fp_fake",
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        data: dict[str, Any] = {**base, "choices": [choice]}
        if with_usage:
            data["usage"] = None
        return sse(data)

    pieces = call.behaviour.chunks
    if tool:
        head = {**_tool_json(call_id, ToolCall(tool.name, "")), "index": 0}
        frames = [chunk({"role": "assistant", "content": None, "tool_calls": [head]})]
        frames += [
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
            for part in split_chars(tool.arguments, pieces)
        ]
    else:
        frames = [chunk({"role": "assistant", "content": "", "refusal": None})]
        frames += [chunk({"content": part}) for part in split_reply(reply, call.behaviour)]
    frames.append(chunk({}, finish))
    if with_usage:
        frames.append(sse({**base, "choices": [], "usage": usage}))
    frames.append(_DONE)
    return FrameStream(frames, call.behaviour)


def _prompt_texts(prompt: Any) -> list[str]:
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list):
        return [
            item
            if isinstance(item, str)
            else " ".join(map(str, item))
            if isinstance(item, list)
            else str(item)
            for item in prompt
        ]
    return []


async def completions(request: Request) -> Response:
    """`POST /v1/completions` (legacy text completions), stream and not."""
    call = await begin(request, openai_error)
    if not isinstance(call, Call):
        return call
    prompts = _prompt_texts(call.body.get("prompt"))
    prompt_tokens = count_words(prompts)
    last = prompts[-1] if prompts else ""
    reply = reply_for(call.behaviour, last, "openai", call.model, prompt_tokens)
    usage = _usage(prompt_tokens, count_words([reply]))
    base = {
        "id": call.backend.next_id("cmpl-"),
        "object": "text_completion",
        "created": call.created,
        "model": call.model,
    }
    if not call.body.get("stream"):
        choice = {"text": reply, "index": 0, "logprobs": None, "finish_reason": "stop"}
        return json_response({**base, "choices": [choice], "usage": usage})

    def chunk(text: str, finish_reason: str | None = None) -> bytes:
        choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}
        return sse({**base, "choices": [choice]})

    frames = [chunk(part) for part in split_reply(reply, call.behaviour)]
    frames.append(chunk("", "stop"))
    if _include_usage(call.body):
        frames.append(sse({**base, "choices": [], "usage": usage}))
    frames.append(_DONE)
    return FrameStream(frames, call.behaviour)


def embed(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for text (same text, same vector, in every process)."""
    seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    rng = random.Random(seed)
    vector = [rng.uniform(-1.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


async def embeddings(request: Request) -> Response:
    """`POST /v1/embeddings`: deterministic vectors, `dimensions` and base64 supported."""
    call = await begin(request, openai_error)
    if not isinstance(call, Call):
        return call
    texts = _prompt_texts(call.body.get("input"))
    if not texts:
        return openai_error(400, "'input' is required: a string or a list")
    dimensions = call.body.get("dimensions", DEFAULT_DIMENSIONS)
    if not isinstance(dimensions, int) or not 1 <= dimensions <= 4096:
        return openai_error(400, "'dimensions' must be an integer between 1 and 4096")
    as_base64 = call.body.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(texts):
        vector = embed(text, dimensions)
        value: Any = vector
        if as_base64:
            value = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": value})
    tokens = count_words(texts)
    return json_response(
        {
            "object": "list",
            "data": data,
            "model": call.body.get("model") or "text-embedding-3-small",
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


async def list_models(request: Request) -> Response:
    """`GET /v1/models`."""
    call = await begin(request, openai_error)
    if not isinstance(call, Call):
        return call
    models = [
        {"id": name, "object": "model", "created": 1700000000, "owned_by": "modeltrail-fake"}
        for name in MODELS
    ]
    return json_response({"object": "list", "data": models})


async def files(request: Request) -> Response:
    """`GET /v1/files`: an empty list, a harmless target for pass-through tests."""
    call = await begin(request, openai_error)
    if not isinstance(call, Call):
        return call
    return json_response({"object": "list", "data": []})
