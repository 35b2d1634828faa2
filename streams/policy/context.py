"""Rules over a request's context rather than its text: model/backend allow-lists, derived findings.

Pure functions of the event and the findings already made for it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from functools import lru_cache

from schemas.events import Evidence, LLMRequest
from streams.policy.rules import Rule
from streams.policy.types import Finding

__all__ = ["allowlist_findings", "derived_findings"]


@lru_cache(maxsize=4096)
def _matches(value: str, globs: tuple[str, ...]) -> bool:
    """Whether `value` matches a glob, case-insensitively (memoised: a request repeats the
    model, backend and path of the last one; bounded, as a client picks its model name)."""
    v = value.lower()
    return any(fnmatch.fnmatchcase(v, g.lower()) for g in globs)


def _finding(r: Rule, excerpt: str, fld: str) -> Finding:
    ev = (Evidence(field=fld, start=0, end=0, excerpt=excerpt[:80]),)
    return Finding(r.id, r.description, r.owasp, r.severity, r.action, "request", None, ev)


def allowlist_findings(rules: Sequence[Rule], event: LLMRequest) -> list[Finding]:
    """A finding per allowlist rule whose subject (model or backend) matches none of its globs."""
    out: list[Finding] = []
    for r in rules:
        if r.kind != "allowlist" or r.subject is None:
            continue
        value = event.model if r.subject == "model" else event.backend
        if value and not _matches(value, r.allow):
            out.append(_finding(r, f"{r.subject}={value}", r.subject))
    return out


def derived_findings(
    rules: Sequence[Rule], event: LLMRequest, findings: Sequence[Finding]
) -> list[Finding]:
    """A finding per derived rule whose path matches and whose source rules fired on the event."""
    out: list[Finding] = []
    for r in rules:
        if r.kind != "derived" or (r.paths and not _matches(event.path, r.paths)):
            continue
        sources = sorted({f.rule_id for f in findings if _matches(f.rule_id, r.of_rules)})
        if sources:
            out.append(_finding(r, f"{event.path}: {', '.join(sources)}", "path"))
    return out
