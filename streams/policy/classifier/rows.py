"""A labelled training text and the helpers every corpus loader shares (training only)."""

from __future__ import annotations

import importlib.metadata as md
import random
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Row", "dist_file", "dist_files", "fill"]


@dataclass(frozen=True, slots=True)
class Row:
    """One labelled text: `label` 1 is an attack (injection, jailbreak, prompt extraction)."""

    text: str
    label: int
    source: str
    role: str = "user"


def dist_file(dist: str, rel: str) -> Path:
    """A file shipped inside an installed distribution."""
    return Path(str(md.distribution(dist).locate_file(rel)))


def dist_files(dist: str, suffix: str, under: str = "") -> list[Path]:
    """The files of an installed distribution ending in `suffix` under `under`, sorted."""
    d = md.distribution(dist)
    return sorted(
        Path(str(d.locate_file(f)))
        for f in d.files or ()
        if str(f).endswith(suffix) and str(f).startswith(under)
    )


# Placeholders in attack templates are filled with ordinary requests, so the model
# learns the wrapper (the jailbreak), not the payload's topic.
_FILL = re.compile(
    r"\{[A-Za-z_ ]+\}|__PROMPT__|__prompt__|\[INSERT PROMPT HERE\]|<VARIABLE Z = _+>"
)


def fill(text: str, rng: random.Random, fillers: list[str]) -> str:
    """`text` with each template placeholder replaced by a seeded pick of `fillers`."""
    return _FILL.sub(lambda _: rng.choice(fillers), text)
