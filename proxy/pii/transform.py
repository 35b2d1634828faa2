"""The request half: replace PII and secrets in every text a request body carries.

Generic over the JSON body, so no provider field can carry a value past it:
every string value is scanned (messages and content parts, system prompts,
tool definitions, tool results, tool-call arguments, `user`, metadata, ...),
as are dict keys that are not plain identifiers and long integers (a card
number sent as a JSON number). Skipped: binary `data:` URIs, and structural
fields (`model`, `role`, `type`, ids) while their value is a protocol word (an
email in `model` or `id` is scanned like any text). A client-sent string that
already looks like a placeholder is itself tokenized (as `LITERAL`), so the
model never sees a placeholder the client forged and the client gets its own
text back unchanged.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from proxy.pii.errors import EntityBlocked
from proxy.pii.placeholders import lookalikes
from proxy.pii.settings import EntityAction
from proxy.pii.vault import SessionVault, VaultView
from streams.policy.entities import EntityFinder, EntitySpan

__all__ = ["LITERAL", "Found", "Transformed", "apply", "scan_body"]

LITERAL = "LITERAL"
_STRUCTURAL = frozenset(
    {"model", "role", "type", "id", "tool_call_id", "call_id", "object", "stream",
     "finish_reason", "stop_reason", "index", "media_type", "detail", "format", "encoding_format"}
)  # fmt: skip
# Python's re on purpose: one short anchored class, no backtracking to bound, and it
# skips pyre2's per-call overhead on every `model` and `role` of a body.
_PROTOCOL_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}\Z")
_BINARY_DATA = ("data:image/", "data:audio/", "data:video/", "data:application/octet-stream")


def _identifier(key: str) -> bool:
    return key.isidentifier() and key.isascii()


@dataclass(slots=True)
class Found:
    """One scanned string with the spans to replace and how to put the result back."""

    text: str
    spans: list[EntitySpan]
    put: Callable[[str], None]


@dataclass(slots=True)
class Transformed:
    """What the transform did to one request."""

    counts: Counter[str] = field(default_factory=Counter)
    # placeholder -> value, only those this request uses (the rehydration scope)
    scope: dict[str, str] = field(default_factory=dict)


def _spans(finder: EntityFinder, text: str) -> list[EntitySpan]:
    spans = finder.find(text)
    marks = lookalikes(text)
    if not marks:
        return spans
    extra = [EntitySpan(LITERAL, a, b, text[a:b]) for a, b in marks]
    merged = sorted([*spans, *extra], key=lambda s: (s.start, -(s.end - s.start)))
    out: list[EntitySpan] = []
    for s in merged:
        if not out or s.start >= out[-1].end:
            out.append(s)
    return out


def scan_body(finder: EntityFinder, body: Any) -> list[Found]:
    """Every string of `body` (a parsed JSON value) that holds an entity, with its setter."""
    found: list[Found] = []

    def setter(holder: Any, key: Any) -> Callable[[Any], None]:
        return _discard if holder is None else partial(holder.__setitem__, key)

    # The container and key of each value, not a setter: one is made only for a hit.
    def visit(value: Any, holder: Any, at: Any) -> None:
        if isinstance(value, str):
            if value and not value.startswith(_BINARY_DATA):
                spans = _spans(finder, value)
                if spans:
                    found.append(Found(value, spans, setter(holder, at)))
        elif isinstance(value, dict):
            for key in list(value):
                item = value[key]
                if key in _STRUCTURAL and isinstance(item, str) and _PROTOCOL_WORD.match(item):
                    continue
                visit(item, value, key)
                if not _identifier(key):
                    spans = _spans(finder, key)
                    if spans:
                        found.append(Found(key, spans, partial(_rekey, value, key)))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                visit(item, value, i)
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1_000_000:
            text = str(value)
            spans = finder.find(text)
            if spans:
                found.append(Found(text, spans, setter(holder, at)))

    visit(body, None, None)
    return found


def _discard(value: Any) -> None:
    """The setter of the body itself: the top level is never a bare string to replace."""


def _rekey(d: dict[str, Any], old: str, new: str) -> None:
    if old != new and old in d:
        d[new] = d.pop(old)


async def apply(
    found: list[Found],
    action: Callable[[str], EntityAction],
    vault: SessionVault | None,
    view: VaultView | None,
) -> Transformed:
    """Replace the spans of `found` in place per action; `vault` None masks what it would tokenize.

    Raises EntityBlocked (naming every blocked type) before anything is changed.
    """
    acts: dict[str, EntityAction] = {}
    for f in found:
        for s in f.spans:
            if s.type not in acts:
                acts[s.type] = "tokenize" if s.type == LITERAL else action(s.type)
    blocked = sorted(t for t, a in acts.items() if a == "block")
    if blocked:
        raise EntityBlocked(
            f"request blocked: it carries {', '.join(blocked)} data",
            extra={"entity_types": ",".join(blocked)},
        )
    out = Transformed()
    known = view.by_value if view is not None else {}
    for f in found:
        parts: list[str] = []
        last = 0
        for s in f.spans:
            act = acts[s.type]
            if act == "allow":
                continue
            new = None
            if act == "tokenize" and vault is not None and view is not None:
                new = known.get((s.type, s.value)) or await vault.issue(view, s.type, s.value)
                if new is not None:
                    out.scope[new] = s.value
            if new is None:
                new = f"[{s.type}]"
            parts.append(f.text[last : s.start])
            parts.append(new)
            last = s.end
            if s.type != LITERAL:
                out.counts[s.type] += 1
        if parts:
            parts.append(f.text[last:])
            f.put("".join(parts))
    return out
