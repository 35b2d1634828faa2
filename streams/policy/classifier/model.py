"""Run-time scoring with the committed linear model: RE2 set + numpy-free arithmetic.

`TextClassifier.load()` reads `model.json.gz` beside this module, checks its
sha256 against `manifest.json` (a mismatch raises `ClassifierError`: a model
is never used unverified), and compiles its features into one RE2 set. Scoring
a text costs one fold (two C-level bytes calls) and one set pass per chunk; a
chunk's log-odds are the bias, plus `size_weight` times its length (`text.size`),
plus the weights of the features present: at most `evidence` of each sign, the
strongest (so a long run of ordinary words that each lean a little towards an
attack, or a padding of benign words around an injection, cannot add up without
bound). The score of a text is the highest chunk probability. No network, no
scikit-learn at run time.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from bisect import bisect_left
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import re2

from streams.policy.classifier.text import CHUNK, STRIDE, TEXT_VERSION, chunks, fold, pattern, size
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
        self,
        features: list[str],
        weights: list[float],
        bias: float,
        meta: dict[str, Any],
        size_weight: float = 0.0,
        evidence: int = 0,
    ) -> None:
        if len(features) != len(weights) or not features:
            raise ClassifierError("model has no features or mismatched weights")
        # Strongest attack feature first, strongest benign one last: the index order is the
        # weight order, so capping evidence sorts hit indices (ints), not their weights.
        order = sorted(range(len(weights)), key=lambda i: -weights[i])
        self.features = [features[i] for i in order]
        self.weights = [weights[i] for i in order]
        self._n_pos = sum(1 for w in weights if w >= 0)
        self.bias = bias
        self.size_weight = size_weight
        self.evidence = evidence  # features counted per sign and chunk (0: all of them)
        self.meta = meta
        self.threshold: float = float(meta.get("threshold", 0.5))
        self.tool_threshold: float = float(meta.get("tool_threshold", self.threshold))
        opts = re2.Options()
        opts.max_mem = _MAX_MEM
        self._set = re2.Set.SearchSet(opts)
        for f in self.features:
            self._set.Add(pattern(f))
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
        if doc.get("text") != TEXT_VERSION:
            raise ClassifierError(
                f"classifier model was trained on text view {doc.get('text')}, run time "
                f"reads view {TEXT_VERSION}: retrain it"
            )
        if (doc.get("chunk"), doc.get("stride")) != (CHUNK, STRIDE):
            raise ClassifierError(
                f"classifier model was trained on chunks {doc.get('chunk')}/{doc.get('stride')}, "
                f"run time cuts {CHUNK}/{STRIDE}: retrain it"
            )
        meta = {k: v for k, v in doc.items() if k not in ("features", "weights")}
        return cls(
            list(doc["features"]),
            [float(w) for w in doc["weights"]],
            float(doc["bias"]),
            meta,
            float(doc.get("size_weight", 0.0)),
            int(doc.get("evidence", 0)),
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

    def _evidence(self, hits: list[int]) -> float:
        """Sum of the hits' weights, at most `evidence` of each sign (the strongest)."""
        k, get = self.evidence, self.weights.__getitem__
        if not k or len(hits) <= k:
            return sum(map(get, hits))
        hits.sort()
        p = bisect_left(hits, self._n_pos)  # hits[:p] lean to an attack, hits[p:] benign
        return sum(map(get, hits[: min(p, k)])) + sum(map(get, hits[max(p, len(hits) - k) :]))

    def chunk_logits(self, folded_chunks: list[bytes]) -> list[float]:
        """The linear score (log-odds) of each chunk."""
        match = self._set.Match
        b, sw, ev = self.bias, self.size_weight, self._evidence
        return [b + sw * size(c) + ev(match(c) or []) for c in folded_chunks]

    def score(self, text: str) -> Score:
        """Probability that `text` is an injection, jailbreak or prompt extraction."""
        match = self._set.Match
        b, sw, ev = self.bias, self.size_weight, self._evidence
        best, best_logit = 0, -math.inf
        best_hits: list[int] = []
        for i, c in enumerate(chunks(fold(text))):
            hits = match(c) or []
            logit = b + sw * size(c) + ev(hits)
            if logit > best_logit:
                best, best_logit, best_hits = i, logit, hits
        return Score(sigmoid(best_logit), best, tuple(best_hits))

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
