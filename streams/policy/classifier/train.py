"""Train the injection/jailbreak/extraction classifier from packaged corpora (training only).

    python -m streams.policy.classifier.train [--out streams/policy/classifier] [--seed 7]

Reads every source in `corpora` (installed packages, no network), cuts texts into
the chunks the run-time model scores, and fits a logistic regression in two
steps: over every word 1-3 gram and stem seen at least twice, then again over
the `--features` strongest of them, matched exactly as at run time (one RE2 set),
plus the chunk's word count (it learns a negative weight: benign context pulls
the score down, so long ordinary text cannot pile up weak evidence).
Thresholds are picked on a validation split (never on a test source): the
lowest score that keeps the validation false-positive rate under `--fpr`, for
user text and, separately, for tool results. Writes `model.json.gz` and
`manifest.json` (sources, package versions, row counts, command, sha256).
Needs the `train` extra (scikit-learn); the run time does not.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from streams.policy.classifier.corpora import (
    ATTACK_SOURCES,
    GENERATED_SOURCES,
    Row,
    load_all,
    manifest_sources,
)
from streams.policy.classifier.model import MANIFEST_FILE, MODEL_FILE, TextClassifier, sigmoid
from streams.policy.classifier.text import (
    CHUNK,
    STRIDE,
    TEXT_VERSION,
    candidates,
    chunks,
    fold,
    size,
)

__all__ = ["Fitted", "cross_corpus", "fit", "main", "split"]

COMMAND = "python -m streams.policy.classifier.train"

# The shipped configuration: the command's defaults, and what `cross_corpus` (and so
# `bench/detection.py`) validates unless told otherwise. Chosen on the cross-corpus table
# and on docstrings of packages never trained on, not on a test source: 1000 benign
# features with a cap of 24 per sign cut the recall on a held-out source to a third
# (compliant-llm 0.19 against 0.60 here). 9000/500 features against 6000/300: the table's
# mean 0.65 against 0.64. Character 3-5 grams of words as candidates lowered it (mean 0.61
# against 0.66) and took 4x as long to fit; synonym rewrites of the attack rows (swapping
# "ignore" for "disregard" and so on) did not raise it. The generated families (`synth`)
# did: mean 0.65 to 0.68, lowest 0.28 to 0.37. Function words as unigram features
# (`text.STOPWORDS`) made short questions score as attacks ("What are your business
# hours?"); without them bastioncorpus's look-alikes flagged fell from 10 to 4 of 63 at a
# 2% budget. The budget is the largest that keeps short everyday requests ("Translate the
# following paragraph into German.", "Please ignore my previous email") under threshold:
# 2% raised the table's mean to 0.77 (lowest 0.53, nine sources) but flagged those and 4
# of the 63 look-alikes; 1% flags none of them (nine sources: mean 0.71, lowest 0.42; the
# shipped ten-source table, in manifest.json: mean 0.74, lowest 0.40). Keeping the runs of
# spaces that punctuation leaves (features match across them) left the table as it was
# (mean 0.74, lowest 0.40) and made scoring ~35% cheaper; counting a chunk's length in
# bytes rather than spaces cost 0.01 of the mean.
FEATURES = 9000  # attack-pointing features
BENIGN_FEATURES = 500  # benign-pointing features
EVIDENCE = 0  # features counted per sign and chunk (0: all)
FPR = 0.01  # validation false-positive budget, per benign source
TOOL_FPR = 0.01  # the same for tool results (never below the user threshold)
C = 1.0


@dataclass
class Fitted:
    """A trained model plus the thresholds picked on validation data."""

    model: TextClassifier
    threshold: float
    tool_threshold: float


def split(row: Row) -> str:
    """A stable train/val/test bucket for a row (by content hash, not by order)."""
    h = zlib.crc32(row.text.encode("utf-8", "replace")) % 100
    return "val" if h < 15 else "test" if h < 30 else "train"


def _chunked(rows: Sequence[Row]) -> tuple[list[bytes], np.ndarray, np.ndarray]:
    cs: list[bytes] = []
    owner: list[int] = []
    for i, r in enumerate(rows):
        for c in chunks(fold(r.text)):
            cs.append(c)
            owner.append(i)
    labels = np.array([rows[i].label for i in owner], dtype=np.int8)
    return cs, labels, np.array(owner, dtype=np.int64)


def _analyze(chunk: str) -> list[str]:
    return [f.decode("utf-8", "replace") for f in candidates(chunk.encode())]


# The length column (`text.size`) is scaled so its weight is regularised like a feature's.
_SIZE_SCALE = 100.0


def _presence(model: TextClassifier, cs: list[bytes]) -> sparse.csr_matrix:
    """Feature presence per chunk, plus a last column: the chunk's length / _SIZE_SCALE."""
    m = model._set
    n = len(model.features)
    indptr = [0]
    indices: list[int] = []
    data: list[float] = []
    for c in cs:
        hits = m.Match(c) or ()
        indices.extend(hits)
        data.extend([1.0] * len(hits))
        indices.append(n)
        data.append(size(c) / _SIZE_SCALE)
        indptr.append(len(indices))
    values = np.array(data, dtype=np.float32)
    return sparse.csr_matrix((values, indices, indptr), shape=(len(cs), n + 1))


def _row_scores(model: TextClassifier, rows: Sequence[Row]) -> np.ndarray:
    return np.array([max(model.chunk_logits(chunks(fold(r.text)))) for r in rows])


def _threshold(scores: np.ndarray, fpr: float) -> float:
    """Lowest logit threshold whose false-positive rate on benign `scores` is at most `fpr`."""
    if len(scores) == 0:
        return 0.0
    s = np.sort(scores)[::-1]
    k = int(np.floor(fpr * len(s)))
    return float(s[k]) + 1e-6 if k < len(s) else float(s[-1])


def _logistic(c: float) -> LogisticRegression:
    # liblinear shuffles with its own generator: seeded, so a rerun writes the same model.
    return LogisticRegression(
        C=c, class_weight="balanced", max_iter=3000, solver="liblinear", random_state=0
    )


def fit(train: Sequence[Row], val: Sequence[Row], n_features: int = FEATURES, c: float = C,
        fpr: float = FPR, n_benign: int = BENIGN_FEATURES, evidence: int = EVIDENCE,
        tool_fpr: float = TOOL_FPR) -> Fitted:  # fmt: skip
    """Two-step logistic regression on `train`; thresholds from `val`."""
    cs, y, _ = _chunked(train)
    vec = CountVectorizer(analyzer=_analyze, binary=True, min_df=2)
    x = vec.fit_transform([c.decode("utf-8", "replace") for c in cs])
    lr = _logistic(c)
    lr.fit(x, y)
    names = vec.get_feature_names_out()
    # Mostly features that point towards an attack (a set reports every pattern that
    # matches, and common benign words would match in every chunk), plus the `n_benign`
    # strongest benign ones: "my previous email", "the order number" pull a score down.
    coef = lr.coef_[0]
    ranked = np.argsort(-coef)
    order = [i for i in ranked if coef[i] > 0][:n_features]
    order += [i for i in ranked[::-1] if coef[i] < 0][:n_benign]
    feats = [str(names[i]) for i in order]
    probe = TextClassifier(feats, [0.0] * len(feats), 0.0, {})
    x2 = _presence(probe, cs)
    lr2 = _logistic(c)
    lr2.fit(x2, y)
    coef2 = lr2.coef_[0]
    weights = [round(float(w), 5) for w in coef2[:-1]]
    size_weight = round(float(coef2[-1]) / _SIZE_SCALE, 8)
    # Thresholds below are picked with the run-time score, evidence cap included.
    model = TextClassifier(feats, weights, float(lr2.intercept_[0]), {}, size_weight, evidence)
    # Thresholds come from real benign text: the generated look-alikes are trained on only.
    benign_val = [r for r in val if not r.label and r.source not in GENERATED_SOURCES]
    th = _worst_source_threshold(model, [r for r in benign_val if r.role != "tool"], fpr)
    tool_val = [r for r in benign_val if r.role == "tool"]
    tth = max(th, _worst_source_threshold(model, tool_val, tool_fpr))
    return Fitted(model, th, tth)


def _worst_source_threshold(model: TextClassifier, benign: Sequence[Row], fpr: float) -> float:
    """The threshold that keeps every benign source's validation FPR within `fpr`.

    Per source, not pooled: long documents are easy and plentiful, short requests are
    few and hard; a pooled budget would be spent on the easy ones.
    """
    by_source: dict[str, list[Row]] = {}
    for r in benign:
        by_source.setdefault(r.source, []).append(r)
    ths = [_threshold(_row_scores(model, rs), fpr) for rs in by_source.values() if len(rs) >= 20]
    return max(ths) if ths else _threshold(_row_scores(model, benign), fpr)


def _hits(f: Fitted, rows: Sequence[Row]) -> np.ndarray:
    """Per row: does the model flag it (at the user or the tool threshold, by its role)?"""
    s = _row_scores(f.model, rows)
    th = np.array([f.tool_threshold if r.role == "tool" else f.threshold for r in rows])
    return np.asarray(s >= th)


def _recall(f: Fitted, rows: Sequence[Row]) -> float:
    return float(np.mean(_hits(f, rows))) if rows else float("nan")


def cross_corpus(
    rows: Sequence[Row], also: Callable[[Row], bool] | None = None, **kw: Any
) -> list[dict[str, Any]]:
    """For each attack source: train on the others, test on it (recall) and on held-out benign.

    `also` is a second detector (the RE2 rules): `recall_with` counts a row it or the
    held-out model flags. `kw` are `fit`'s options; left out, the shipped configuration
    is validated.
    """
    table = []
    for name in ATTACK_SOURCES:
        train = [r for r in rows if r.source != name and split(r) == "train"]
        val = [r for r in rows if r.source != name and split(r) == "val"]
        f = fit(train, val, **kw)
        attacks = [r for r in rows if r.source == name and r.label]
        benign = [r for r in rows if not r.label and split(r) == "test" and r.source != name]
        hits = _hits(f, attacks)
        entry = {
            "source": name,
            "test_attacks": len(attacks),
            "recall": round(float(hits.mean()), 4),
        }
        if also is not None:
            with_also = hits | np.array([also(r) for r in attacks], dtype=bool)
            entry["recall_with"] = round(float(with_also.mean()), 4)
        entry["benign_test_rows"] = len(benign)
        entry["benign_fpr"] = round(_recall(f, benign), 4)  # the share of benign rows flagged
        table.append(entry)
    return table


def _write(out: Path, f: Fitted, rows: Sequence[Row], extra: dict[str, Any]) -> dict[str, Any]:
    doc = {
        "version": 3,
        "text": TEXT_VERSION,
        "chunk": CHUNK,
        "stride": STRIDE,
        # probabilities (the engine compares the sigmoid of a chunk's score)
        "threshold": round(sigmoid(f.threshold), 6),
        "tool_threshold": round(sigmoid(f.tool_threshold), 6),
        "bias": f.model.bias,
        "size_weight": f.model.size_weight,
        "evidence": f.model.evidence,
        "features": f.model.features,
        "weights": f.model.weights,
    }
    raw = gzip.compress(json.dumps(doc, separators=(",", ":")).encode(), mtime=0)
    (out / MODEL_FILE).write_bytes(raw)
    manifest = {
        "model": MODEL_FILE,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "size_bytes": len(raw),
        "features": len(f.model.features),
        "command": COMMAND,
        "python": sys.version.split()[0],
        "sources": manifest_sources(list(rows)),
        **extra,
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--features", type=int, default=FEATURES, help="attack-pointing features")
    ap.add_argument("--benign-features", type=int, default=BENIGN_FEATURES, help="benign features")
    ap.add_argument(
        "--evidence", type=int, default=EVIDENCE, help="features counted per sign/chunk"
    )
    ap.add_argument("--fpr", type=float, default=FPR, help="validation false-positive budget")
    ap.add_argument("--tool-fpr", type=float, default=TOOL_FPR, help="the same for tool results")
    ap.add_argument("--cross-corpus", action="store_true", help="also print the cross-corpus table")
    args = ap.parse_args(argv)
    rows = load_all(args.seed)
    kw = {
        "n_features": args.features,
        "n_benign": args.benign_features,
        "evidence": args.evidence,
        "fpr": args.fpr,
        "tool_fpr": args.tool_fpr,
    }
    train = [r for r in rows if split(r) == "train"]
    val = [r for r in rows if split(r) == "val"]
    f = fit(train, val, **kw)
    test = [r for r in rows if split(r) == "test"]
    extra: dict[str, Any] = {
        "seed": args.seed,
        "features_benign": args.benign_features,
        "evidence": args.evidence,
        "validation_fpr_budget": args.fpr,
        "validation_tool_fpr_budget": args.tool_fpr,
        "rows": {"train": len(train), "val": len(val), "test": len(test)},
        "test_recall": round(_recall(f, [r for r in test if r.label]), 4),
        "test_benign_fpr": round(_recall(f, [r for r in test if not r.label]), 4),
    }
    if args.cross_corpus:
        extra["cross_corpus"] = cross_corpus(rows, **kw)
    manifest = _write(args.out, f, rows, extra)
    print(json.dumps({k: v for k, v in manifest.items() if k != "sources"}, indent=2))


if __name__ == "__main__":
    main()
