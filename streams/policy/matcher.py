"""Compiled pattern rules: one RE2 set pass per text, exact spans only where the set hit.

`Matcher` compiles every pattern of every enabled pattern rule into one
`re2.Set`. Scanning a view runs the set once (a single DFA pass over the
bytes, in bounded chunks so the DFA cache cannot run dry) and returns the
patterns that matched; only those are then run alone to find spans and apply
validators. Benign text costs one pass, whatever the number of rules.
"""

from __future__ import annotations

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
# Room for the DFA of the whole rule set; too small a budget makes RE2 rebuild states.
_MAX_MEM = 64 << 20


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


class Matcher:
    """Every pattern of a rule set behind one RE2 set."""

    def __init__(self, rules: list[Rule]) -> None:
        self._set: re2.Set | None = None
        self._entries: list[tuple[Rule, re2._Regexp]] = []
        opts = _options()
        s = re2.Set.SearchSet(opts)
        for r in rules:
            for p in r.patterns:
                compiled = re2.compile(p.encode(), opts)
                idx = s.Add(p.encode())
                assert idx == len(self._entries)
                self._entries.append((r, compiled))
        if self._entries:
            s.Compile()
            self._set = s

    def _set_hits(self, data: bytes) -> set[int]:
        assert self._set is not None
        if len(data) <= CHUNK:
            return set(self._set.Match(data) or ())
        found: set[int] = set()
        step = CHUNK - OVERLAP
        for pos in range(0, len(data), step):
            found.update(self._set.Match(data[pos : pos + CHUNK]) or ())
        return found

    def scan(self, view: View, accept: dict[str, bool]) -> Iterator[Hit]:
        """Validated hits in `view` of rules whose id maps to True in `accept`."""
        if self._set is None or not view.data:
            return
        for idx in sorted(self._set_hits(view.data)):
            r, compiled = self._entries[idx]
            if not accept.get(r.id, False):
                continue
            validate = VALIDATORS.get(r.validator) if r.validator else None
            n = 0
            for m in compiled.finditer(view.data):
                start, end = m.span()
                if validate is not None and not validate(m.group(), view.data, start, end):
                    continue
                yield Hit(r, view, start, end)
                n += 1
                if n >= MAX_HITS_PER_PATTERN:
                    break
