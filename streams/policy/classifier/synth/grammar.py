"""The phrase grammar the generated texts are written in, and what both sides share."""

from __future__ import annotations

import random
import re

__all__ = ["DOCS", "expand", "lower_first", "sentences", "vary_case"]

_GROUP = re.compile(r"\{([^{}]*)\}")


def expand(template: str, rng: random.Random) -> str:
    """`template` with every `{a|b|c}` group (innermost first) replaced by one seeded pick.

    A literal `|` inside a group is written `¦`.
    """
    while True:
        out = _GROUP.sub(lambda m: rng.choice(m.group(1).split("|")), template)
        if out == template:
            return re.sub(r"  +", " ", out).strip().replace("¦", "|")
        template = out


def sentences(parts: list[str]) -> str:
    """The non-empty parts joined by spaces."""
    return " ".join(p for p in (s.strip() for s in parts) if p and p != ".")


def lower_first(text: str) -> str:
    """`text` without its closing punctuation, lower-cased at the start: to embed a request."""
    text = text.strip().rstrip(".?!")
    return text[:1].lower() + text[1:]


def vary_case(rng: random.Random, text: str) -> str:
    """`text`, or (one time in ten) all of it upper- or lower-cased."""
    r = rng.random()
    if r < 0.05:
        return text.upper()
    if r < 0.10:
        return text.lower()
    return text


# Ordinary documents: an injection is hidden in them, a look-alike asks to rewrite them.
DOCS = (
    "Quarterly results: revenue grew 12% year over year, driven by subscriptions. Operating costs were flat.",
    "To install the package, run the installer and follow the prompts. Restart the service when it finishes.",
    "Hi team, the offsite is moved to Thursday. Please confirm your dietary requirements by Monday.",
    "Product description: stainless steel water bottle, 750 ml, keeps drinks cold for 24 hours.",
    "Meeting notes: we agreed to ship the beta on the 14th; QA owns the regression list.",
    "The city council approved the new bike lanes on Main Street. Construction starts in spring.",
    "Error 502 from upstream at 10:42:13; retrying in 5 s (attempt 3 of 5).",
    "Customer review: arrived quickly and works as described. Four stars, the manual is confusing.",
    "README: this library parses CSV files into typed records. See examples/ for usage.",
    "Invoice #4821 is due on the 30th. Payment by bank transfer to the account on file.",
)
