"""Run-time scoring with the committed linear model: RE2 set + numpy-free arithmetic.

`TextClassifier.load()` reads `model.json.gz` beside this module, checks its
sha256 against `manifest.json` (a mismatch raises `ClassifierError`: a model
is never used unverified), and compiles its features into one RE2 set. Scoring
a text costs one fold (a few C-level bytes calls) and one set pass per chunk;
the score of a text is the highest chunk probability. No network, no
scikit-learn at run time.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import re2

from streams.policy.classifier.text import chunks, fold
from streams.policy.errors import ClassifierError

__all__ = [
    "MANIFEST_FILE",
    "MODEL_FILE",
    "Score",
    "TextClassifier",
    "default_classifier",
    "sigmoid",
]

MODEL_FILE = "model.json.gz"
MANIFEST_FILE = "manifest.json"
_MAX_MEM = 128 << 20


@dataclass(frozen=True, slots=True)
class Score:
    """A text's probability of being an attack and the features that pushed it most."""

    probability: float
    chunk: int
    hits: tuple[int, ...]  # feature indices present in the top chunk


class TextClassifier:
    """A linear model over word n-gram and stem features, matched by one RE2 set."""

    def __init__(
        self, features: list[str], weights: list[float], bias: float, meta: dict[str, Any]
    ) -> None:
        if len(features) != len(weights) or not features:
            raise ClassifierError("model has no features or mismatched weights")
        self.features = features
        self.weights = weights
        self.bias = bias
        self.meta = meta
        self.threshold: float = float(meta.get("threshold", 0.5))
        self.tool_threshold: float = float(meta.get("tool_threshold", self.threshold))
        opts = re2.Options()
        opts.max_mem = _MAX_MEM
        self._set = re2.Set.SearchSet(opts)
        for f in features:
            self._set.Add(re2.escape(f.encode()))
        self._set.Compile()

    @classmethod
    def from_bytes(cls, raw: bytes, expected_sha256: str | None = None) -> TextClassifier:
        """Build from the gzipped JSON artifact; raises `ClassifierError` on a hash mismatch."""
        digest = hashlib.sha256(raw).hexdigest()
        if expected_sha256 is not None and digest != expected_sha256:
            raise ClassifierError(
                f"classifier model sha256 {digest} does not match the manifest ({expected_sha256})"
            )
        try:
            doc = json.loads(gzip.decompress(raw))
        except (OSError, ValueError) as exc:
            raise ClassifierError(f"classifier model is unreadable: {exc}") from exc
        meta = {k: v for k, v in doc.items() if k not in ("features", "weights")}
        return cls(
            list(doc["features"]), [float(w) for w in doc["weights"]], float(doc["bias"]), meta
        )

    @classmethod
    def load(cls) -> TextClassifier:
        """The committed model, verified against the committed manifest."""
        pkg = resources.files("streams.policy.classifier")
        try:
            manifest = json.loads(pkg.joinpath(MANIFEST_FILE).read_text())
            raw = pkg.joinpath(MODEL_FILE).read_bytes()
        except (OSError, ValueError) as exc:
            raise ClassifierError(f"classifier artifact missing or unreadable: {exc}") from exc
        model = cls.from_bytes(raw, str(manifest.get("sha256", "")))
        model.meta["manifest"] = manifest
        return model

    def chunk_logits(self, folded_chunks: list[bytes]) -> list[float]:
        """The linear score (log-odds) of each chunk."""
        get = self.weights.__getitem__
        match = self._set.Match
        return [self.bias + sum(map(get, match(c) or ())) for c in folded_chunks]

    def score(self, text: str) -> Score:
        """Probability that `text` is an injection, jailbreak or prompt extraction."""
        get = self.weights.__getitem__
        match = self._set.Match
        best, best_logit, best_hits = 0, -math.inf, ()
        for i, c in enumerate(chunks(fold(text))):
            hits = match(c) or ()
            logit = self.bias + sum(map(get, hits))
            if logit > best_logit:
                best, best_logit, best_hits = i, logit, tuple(hits)
        return Score(sigmoid(best_logit), best, best_hits)

    def explain(self, score: Score, n: int = 3) -> tuple[str, ...]:
        """The features of the top chunk that pushed the score up most (for evidence)."""
        hits = sorted(score.hits, key=lambda i: -self.weights[i])
        return tuple(self.features[i].strip() for i in hits[:n] if self.weights[i] > 0)


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@cache
def default_classifier() -> TextClassifier:
    """The committed model, loaded once per process."""
    return TextClassifier.load()
