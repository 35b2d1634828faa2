"""Entity spans: where the PII and secret rules match in a text, as typed values.

The same catalogue rules, validators and overlap resolution that judge events
also tell the proxy's PII transform *what to replace*: `EntityFinder.find(text)`
returns non-overlapping `EntitySpan`s (character offsets into the text as
given, not into a normalised view) with an entity type per rule, plus any
custom entity patterns (`{"EMPLOYEE_ID": [r"\\bEMP-\\d{6}\\b"]}`). Rules that
match a label together with the value (`ssn: 123456789`, `api_key=...`) are
trimmed to the value, so the label stays readable for the model.

Pure: no I/O, no clock. Patterns are RE2 (linear time).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import re2

from streams.policy.catalogue import pii, secrets
from streams.policy.catalogue.entity_types import ENTITY_OF_RULE, ENTITY_TYPES
from streams.policy.engine import resolve_overlaps
from streams.policy.matcher import Matcher
from streams.policy.normalize import View
from streams.policy.rules import Rule
from streams.policy.turns import QuietParts

__all__ = ["ENTITY_OF_RULE", "ENTITY_TYPES", "EntityFinder", "EntitySpan", "check_type_name"]

_TYPE_NAME = re2.compile(r"^[A-Z][A-Z0-9]{0,23}(?:_[A-Z0-9]{1,24}){0,3}$")

# The value at the end of a label-and-value match (the label is kept in the text).
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_TRIM_TAIL: dict[str, re2._Regexp] = {
    "DOB": re2.compile(
        r"(?i)(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{2}-\d{2}|"
        + _MONTH + r"\s\d{1,2},?\s\d{4}|\d{1,2}\s" + _MONTH + r"\s\d{4})$"
    ),
    "NATIONAL_ID": re2.compile(r"[A-Z]{0,2}\d{6,9}$"),
    "SSN": re2.compile(r"\d{9}$"),
    "CARD": re2.compile(r"\d{12}$"),
    "PHONE": re2.compile(r"\d{7,12}$"),
}  # fmt: skip
# `api_key = "value"`, `password: value`, `bearer value`: the value follows the label.
_LABELLED = frozenset({"SECRET", "API_KEY", "PASSWORD"})
_SEPARATOR = re2.compile(r"=>|[:=]")
_LEADING_DIGITS = re2.compile(r"^\d{10,11}")


@dataclass(frozen=True, slots=True)
class EntitySpan:
    """One entity value found in a text: `text[start:end] == value` (character offsets)."""

    type: str
    start: int
    end: int
    value: str


def _trim(kind: str, value: str) -> tuple[int, int]:
    """Offsets of the entity value inside a match that may carry its label."""
    if kind in _LABELLED and value[:1].isalpha():
        if "://" in value or ";" in value:
            return 0, len(value)  # a URL or connection string: all of it is the secret
        sep = _SEPARATOR.search(value)
        at = sep.end() if sep is not None else value.rfind(" ") + 1
        while at < len(value) and value[at] in " \t\"'>":
            at += 1
        return (at, len(value)) if len(value) - at >= 8 else (0, len(value))
    if not value[:1].isalpha() or kind not in _TRIM_TAIL:
        if kind == "PHONE" and value[-1:].isalpha():
            m = _LEADING_DIGITS.search(value)  # `0123456789 mobile`
            if m is not None:
                return 0, m.end()
        return 0, len(value)
    m = _TRIM_TAIL[kind].search(value)
    return (m.start(), len(value)) if m is not None else (0, len(value))


def check_type_name(name: str) -> str:
    """`name` if it is a valid entity type (upper-case, digits, underscores); else ValueError."""
    if not _TYPE_NAME.match(name):
        raise ValueError(f"entity type {name!r} must look like EMPLOYEE_ID (A-Z, 0-9, _)")
    return name


#: Texts shorter than this are scanned every time (hashing them would cost about as much).
_QUIET_MIN = 256


class EntityFinder:
    """The catalogue's PII and secret rules plus custom entity patterns, compiled once."""

    def __init__(
        self,
        custom: Mapping[str, Iterable[str]] | None = None,
        rules: Iterable[Rule] | None = None,
        quiet_texts: int = 4096,
    ) -> None:
        base = list(rules) if rules is not None else [*pii.RULES, *secrets.RULES]
        chosen = [r for r in base if r.id in ENTITY_OF_RULE and r.kind == "pattern"]
        self._type: dict[str, str] = {r.id: ENTITY_OF_RULE[r.id] for r in chosen}
        for name, patterns in (custom or {}).items():
            rid = f"ENTITY-{check_type_name(name)}"
            chosen.append(
                Rule(rid, f"custom entity {name}", "LLM02", "warning", "flag",
                     frozenset({"request"}), family="pii", patterns=tuple(patterns))
            )  # fmt: skip
            self._type[rid] = name
        self.types: frozenset[str] = frozenset(self._type.values())
        self._matcher = Matcher(chosen)
        # Long texts found empty before (a system prompt every request repeats): a lookup,
        # not a scan. `find` is pure, so this changes no result; bounded, LRU.
        self.quiet = QuietParts(quiet_texts)

    def find(self, text: str) -> list[EntitySpan]:
        """Non-overlapping entity spans in `text`, in order (an earlier, longer match wins)."""
        if not text:
            return []
        data = text.encode()
        key = None
        if len(data) >= _QUIET_MIN:
            key = hashlib.blake2b(data, digest_size=16).digest()
            if self.quiet.known(key, ""):
                return []
        hits = resolve_overlaps(
            list(self._matcher.scan(View("t", text, data, "plain"), limit=None))
        )
        if not hits:
            if key is not None:
                self.quiet.add(key, "")
            return []
        ascii_text = len(data) == len(text)
        spans: list[EntitySpan] = []
        for h in sorted(hits, key=lambda h: (h.start, -(h.end - h.start))):
            if ascii_text:
                start, end = h.start, h.end
            else:
                start, end = len(data[: h.start].decode()), len(data[: h.end].decode())
            kind = self._type[h.rule.id]
            a, b = _trim(kind, text[start:end])
            start, end = start + a, start + b
            if spans and start < spans[-1].end:
                continue  # overlaps an earlier span of another rule
            spans.append(EntitySpan(kind, start, end, text[start:end]))
        return spans
