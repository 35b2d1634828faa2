"""Compiled pattern rules: one RE2 set pass per rule family, exact spans only where a set hit.

`Matcher` compiles the patterns of the enabled pattern rules into a few
`re2.Set`s (one per group of families; the language group in sets of at most
`MAX_SET_PATTERNS`). Scanning a view runs each set once (a DFA pass over the bytes, in
bounded chunks) and returns the patterns that matched; only those are then run
alone to find spans and apply validators. Benign text costs one pass per set,
whatever the number of rules. Several sets rather than one: word-gap patterns
(injection phrasing), token shapes (secrets, commands) and digit groups (PII)
multiply each other's DFA states. Measured here on one core: one set did
~53 MB/s on prose but ~1 s per MB of random bytes (the DFA keeps building
states); three sets do ~65 MB/s on prose and 0.2-0.6 s per MB of random bytes.
Patterns avoid large bounded repeats (`[^>]{0,200}`), which blow up DFA states;
an unbounded loop over a character class costs one state.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass

import re2

from streams.policy.normalize import View
from streams.policy.rules import Rule
from streams.policy.validators import VALIDATORS

__all__ = ["Hit", "Matcher"]

CHUNK = 256 * 1024
OVERLAP = 4 * 1024
MAX_HITS_PER_PATTERN = 64
MAX_SET_PATTERNS = 32
MIN_SET_PATTERNS = 8
# Room for the DFA of the whole rule set; too small a budget makes RE2 rebuild states.
_MAX_MEM = 64 << 20


_GROUP = {
    "injection": "language", "jailbreak": "language", "leakage": "language",
    "secrets": "data", "output": "data", "agency": "data", "consumption": "data", "pii": "pii",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Hit:
    """One validated match of one rule in one view (byte offsets into `view.data`)."""

    rule: Rule
    view: View
    start: int
    end: int


def _options() -> re2.Options:
    o = re2.Options()
    o.max_mem = _MAX_MEM
    return o


def _allowed(m: re2._Match, allow: tuple[str, ...]) -> bool:
    """Whether the match's subject (its first group, else all of it) matches an allow glob."""
    raw = m.group(1) if m.re.groups else m.group()
    subject = raw.decode("utf-8", "replace").lower() if raw else ""
    return any(fnmatch.fnmatchcase(subject, g.lower()) for g in allow)


class Matcher:
    """Every pattern of a rule set behind one RE2 set."""

    def __init__(self, rules: list[Rule]) -> None:
        self._entries: list[tuple[Rule, re2._Regexp]] = []
        # (set, global entry index of each of its patterns), one per group of families
        self._sets: list[tuple[re2.Set, list[int]]] = []
        opts = _options()
        groups: dict[str, list[tuple[Rule, str]]] = {}
        for r in rules:
            groups.setdefault(_GROUP.get(r.family, r.family), []).extend((r, p) for p in r.patterns)
        # A group of a few patterns (the one leakage rule judging responses) is not worth a
        # pass over the text of its own: it joins the smallest other group (measured on
        # responses: 6.3 -> 4.3 ms per MB, base64 blobs no slower).
        small = [g for g, pats in groups.items() if len(pats) < MIN_SET_PATTERNS]
        for g in small:
            others = [o for o in groups if o != g and o not in small]
            if others:
                target = min(others, key=lambda o: len(groups[o]))
                groups[target].extend(groups.pop(g))
        for group, pats in groups.items():
            # Word-gap patterns multiply each other's DFA states: the language group is split
            # into a few sets of at most MAX_SET_PATTERNS (92 language patterns in one set
            # ran ~25% slower than in three, measured with bench/policy_throughput.py). Token
            # shapes do not: the 82 data patterns in one set scan prose faster than in three
            # (each set is a pass over the text) and base64 blobs no slower.
            n_sets = -(-len(pats) // MAX_SET_PATTERNS) if group == "language" else 1
            for k in range(n_sets):
                s = re2.Set.SearchSet(opts)
                ids: list[int] = []
                for r, p in pats[k::n_sets]:
                    s.Add(p.encode())
                    ids.append(len(self._entries))
                    self._entries.append((r, re2.compile(p.encode(), opts)))
                s.Compile()
                self._sets.append((s, ids))

    def _set_hits(self, data: bytes) -> set[int]:
        found: set[int] = set()
        step = CHUNK - OVERLAP
        pieces = (
            [data]
            if len(data) <= CHUNK
            else [data[pos : pos + CHUNK] for pos in range(0, len(data), step)]
        )
        for s, ids in self._sets:
            for piece in pieces:
                matched = s.Match(piece)
                if matched:  # most sets match nothing: no per-pattern work then
                    found.update(map(ids.__getitem__, matched))
        return found

    @property
    def empty(self) -> bool:
        """Whether there is no pattern to scan for (a scan finds nothing)."""
        return not self._entries

    def scan(self, view: View, limit: int | None = MAX_HITS_PER_PATTERN) -> Iterator[Hit]:
        """Validated hits in `view` of this matcher's rules (each caller builds a matcher of
        exactly the rules it judges with: `PolicyEngine.matcher_for`, `EntityFinder`).

        At most `limit` hits per pattern (judging needs a few); None finds every one
        (the PII transform must replace every value).
        """
        if not self._sets or not view.data:
            return
        for idx in sorted(self._set_hits(view.data)):
            r, compiled = self._entries[idx]
            validate = VALIDATORS.get(r.validator) if r.validator else None
            n = 0
            for m in compiled.finditer(view.data):
                start, end = m.span()
                if validate is not None and not validate(m.group(), view.data, start, end):
                    continue
                if r.allow and _allowed(m, r.allow):
                    continue
                yield Hit(r, view, start, end)
                n += 1
                if limit is not None and n >= limit:
                    break
