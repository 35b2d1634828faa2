"""Masked evidence: where a rule matched, never the raw secret or personal value."""

from __future__ import annotations

from schemas.events import Evidence
from streams.policy.matcher import Hit
from streams.policy.rules import MaskKind

__all__ = ["MAX_EVIDENCE", "evidence", "mask"]

MAX_EVIDENCE = 5
_PHRASE_MAX = 80


def mask(value: str, kind: MaskKind) -> str:
    """Mask a matched value: secrets keep a 4-char prefix, PII keeps its shape only."""
    if kind == "phrase":
        value = " ".join(value.split())
        return value if len(value) <= _PHRASE_MAX else value[: _PHRASE_MAX - 1] + "…"
    if kind == "secret":
        head = value[:4] if len(value) >= 12 else ""
        return f"{head}{'*' * min(12, max(4, len(value) - len(head)))} ({len(value)} chars)"
    # pii: keep separators and the last two alphanumerics so a reviewer can tell values apart
    keep_from = len(value) - 2 if len(value) > 6 else len(value)
    out = [c if (not c.isalnum() or i >= keep_from) else "*" for i, c in enumerate(value)]
    masked = "".join(out)
    return masked if len(masked) <= 40 else masked[:39] + "…"


def evidence(hit: Hit) -> Evidence:
    """Evidence for one hit: character span within the view's text and a masked excerpt."""
    data = hit.view.data
    start = len(data[: hit.start].decode("utf-8", "ignore"))
    raw = data[hit.start : hit.end].decode("utf-8", "replace")
    return Evidence(
        field=hit.view.field, start=start, end=start + len(raw), excerpt=mask(raw, hit.rule.mask)
    )
