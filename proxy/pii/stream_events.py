"""Per-provider knowledge the stream rehydrator needs: where deltas are, what ends them.

Each provider answers three questions about one decoded stream event:
`slots` (the delta strings it carries, keyed by channel, with a setter and
whether the text is JSON source), `closes` (channels that end *before* this
event, so held text goes out first) and `delta_event` (a minimal, valid delta
event carrying text for a channel, used to flush held text). Kept together
and free of I/O so each part can move into `proxy/dialects/` with its provider.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["ALL", "EVENTS", "Events", "Slot"]

Key = tuple[Any, ...]
ALL: tuple[Key, ...] = (("*",),)  # `closes` answer: every open channel ends here
# A `closes` key ends every channel it prefixes: ("t", 0) ends ("t", 0, 1).


@dataclass(slots=True)
class Slot:
    """One delta string of an event."""

    key: Key
    text: str
    put: Callable[[str], None]
    json_text: bool = False


class Events(Protocol):
    def slots(self, obj: dict[str, Any]) -> list[Slot]: ...

    def closes(self, obj: dict[str, Any]) -> Iterable[Key]: ...

    def delta_event(self, key: Key, text: str, last: dict[str, Any]) -> tuple[str | None, Any]:
        """(SSE event name or None, the event object) carrying `text` for channel `key`."""
        ...


def _setter(d: dict[str, Any], k: str) -> Callable[[str], None]:
    return lambda v: d.__setitem__(k, v)


_OPENAI_TOP = ("id", "object", "created", "model", "system_fingerprint")


class OpenAIEvents:
    """Chat completions, legacy completions and the Responses API."""

    def slots(self, obj: dict[str, Any]) -> list[Slot]:
        kind = obj.get("type")
        if isinstance(kind, str) and kind.startswith("response."):
            return self._responses(kind, obj)
        out: list[Slot] = []
        for ci, choice in enumerate(obj.get("choices") or ()):
            if not isinstance(choice, dict):
                continue
            idx = choice.get("index", ci)
            delta = choice.get("delta")
            if isinstance(delta, dict):
                if isinstance(delta.get("content"), str):
                    out.append(Slot(("c", idx), delta["content"], _setter(delta, "content")))
                for ti, tc in enumerate(delta.get("tool_calls") or ()):
                    fn = tc.get("function") if isinstance(tc, dict) else None
                    if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                        key = ("t", idx, tc.get("index", ti))
                        out.append(Slot(key, fn["arguments"], _setter(fn, "arguments"), True))
            elif isinstance(choice.get("text"), str):
                out.append(Slot(("x", idx), choice["text"], _setter(choice, "text")))
        return out

    def _responses(self, kind: str, obj: dict[str, Any]) -> list[Slot]:
        if not isinstance(obj.get("delta"), str):
            return []
        if kind == "response.output_text.delta":
            key = ("r", obj.get("output_index", 0), obj.get("content_index", 0))
            return [Slot(key, obj["delta"], _setter(obj, "delta"))]
        if kind == "response.function_call_arguments.delta":
            return [
                Slot(("f", obj.get("output_index", 0)), obj["delta"], _setter(obj, "delta"), True)
            ]
        return []

    def closes(self, obj: dict[str, Any]) -> Iterable[Key]:
        kind = obj.get("type")
        if isinstance(kind, str) and kind.startswith("response."):
            if kind == "response.output_text.done":
                return [("r", obj.get("output_index", 0), obj.get("content_index", 0))]
            if kind == "response.function_call_arguments.done":
                return [("f", obj.get("output_index", 0))]
            if kind in ("response.completed", "response.incomplete", "response.failed"):
                return ALL
            return ()
        choices = obj.get("choices")
        if not choices:
            return ALL if "usage" in obj or "error" in obj else ()
        ended = [
            c.get("index", i)
            for i, c in enumerate(choices)
            if isinstance(c, dict) and c.get("finish_reason")
        ]
        return [(kind, i) for i in ended for kind in ("c", "x", "t")]

    def delta_event(self, key: Key, text: str, last: dict[str, Any]) -> tuple[str | None, Any]:
        if key[0] == "r":
            evt = {"type": "response.output_text.delta", "item_id": last.get("item_id"),
                   "output_index": key[1], "content_index": key[2], "delta": text}  # fmt: skip
            return "response.output_text.delta", evt
        if key[0] == "f":
            evt = {"type": "response.function_call_arguments.delta", "item_id": last.get("item_id"),
                   "output_index": key[1], "delta": text}  # fmt: skip
            return "response.function_call_arguments.delta", evt
        base = {k: last[k] for k in _OPENAI_TOP if k in last}
        if key[0] == "x":
            choice: dict[str, Any] = {"index": key[1], "text": text, "finish_reason": None}
        elif key[0] == "t":
            call = {"index": key[2], "function": {"arguments": text}}
            choice = {"index": key[1], "delta": {"tool_calls": [call]}, "finish_reason": None}
        else:
            choice = {"index": key[1], "delta": {"content": text}, "finish_reason": None}
        return None, {**base, "choices": [choice]}


class AnthropicEvents:
    """Messages API: text_delta and input_json_delta per content block."""

    def slots(self, obj: dict[str, Any]) -> list[Slot]:
        if obj.get("type") != "content_block_delta":
            return []
        delta = obj.get("delta")
        idx = obj.get("index", 0)
        if not isinstance(delta, dict):
            return []
        if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
            return [Slot(("c", idx), delta["text"], _setter(delta, "text"))]
        if delta.get("type") == "input_json_delta" and isinstance(delta.get("partial_json"), str):
            return [Slot(("t", idx), delta["partial_json"], _setter(delta, "partial_json"), True)]
        return []

    def closes(self, obj: dict[str, Any]) -> Iterable[Key]:
        kind = obj.get("type")
        if kind == "content_block_stop":
            idx = obj.get("index", 0)
            return [("c", idx), ("t", idx)]
        if kind in ("message_delta", "message_stop", "error"):
            return ALL
        return ()

    def delta_event(self, key: Key, text: str, last: dict[str, Any]) -> tuple[str | None, Any]:
        if key[0] == "t":
            delta = {"type": "input_json_delta", "partial_json": text}
        else:
            delta = {"type": "text_delta", "text": text}
        return "content_block_delta", {
            "type": "content_block_delta",
            "index": key[1],
            "delta": delta,
        }


class OllamaEvents:
    """NDJSON lines of /api/chat (`message.content`) and /api/generate (`response`)."""

    def slots(self, obj: dict[str, Any]) -> list[Slot]:
        msg = obj.get("message")
        if isinstance(msg, dict) and isinstance(msg.get("content"), str):
            return [Slot(("c", 0), msg["content"], _setter(msg, "content"))]
        if isinstance(obj.get("response"), str):
            return [Slot(("g", 0), obj["response"], _setter(obj, "response"))]
        return []

    def closes(self, obj: dict[str, Any]) -> Iterable[Key]:
        return ALL if obj.get("done") or obj.get("error") else ()

    def delta_event(self, key: Key, text: str, last: dict[str, Any]) -> tuple[str | None, Any]:
        base = {k: last[k] for k in ("model", "created_at") if k in last}
        if key[0] == "g":
            return None, {**base, "response": text, "done": False}
        return None, {**base, "message": {"role": "assistant", "content": text}, "done": False}


EVENTS: dict[str, Events] = {
    "openai": OpenAIEvents(),
    "anthropic": AnthropicEvents(),
    "ollama": OllamaEvents(),
}
