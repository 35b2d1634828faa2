"""The learned text classifier: injection, jailbreak and system-prompt extraction.

Run time needs only `model` and `text` (RE2, no scikit-learn, no network); `train`
and the corpus loaders (`corpora`, with `rows`, `probe_corpora` and `agent_prompts`)
build the committed artifact and need the `train` extra.
"""

from __future__ import annotations

from streams.policy.classifier.model import Score, TextClassifier, default_classifier

__all__ = ["Score", "TextClassifier", "default_classifier"]
