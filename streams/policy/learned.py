"""Classifier rules in the engine: score a text's views once, report per rule over threshold.

The model is loaded (and its sha256 checked) only when a rule set enables a
classifier rule. A text's score is the highest over its plain and decoded views
(base64 and friends, nested), never its rewrites (rot13, reversed) which the
model was not trained on. Evidence names the view and the n-grams that pushed
the score up; it never carries more of the text than a pattern rule would.
"""

from __future__ import annotations

from schemas.events import Evidence, Target
from streams.policy.classifier.model import TextClassifier, default_classifier
from streams.policy.normalize import View
from streams.policy.rules import Rule
from streams.policy.types import Finding

__all__ = ["LearnedRules"]

_TOOL_ROLES = frozenset({"tool", "function"})


class LearnedRules:
    """The enabled classifier rules and the model they share."""

    def __init__(self, rules: list[Rule], model: TextClassifier | None = None) -> None:
        self.rules = rules
        self.model = model if model is not None or not rules else default_classifier()
        self._for: dict[tuple[Target, str | None], list[Rule]] = {}

    def _applicable(self, target: Target, role: str | None) -> list[Rule]:
        key = (target, role)
        rules = self._for.get(key)
        if rules is None:
            rules = [r for r in self.rules if r.applies(target, role)]
            self._for[key] = rules
        return rules

    def classify(
        self, vs: list[View], target: Target, role: str | None, best: dict[str, Finding]
    ) -> bool:
        """Score `vs`; keep in `best` each applicable rule's strongest finding over threshold.

        True when the score crossed some applicable rule's threshold.
        """
        rules = self._applicable(target, role)
        model = self.model
        if not rules or model is None:
            return False
        top, top_view, top_score = -1.0, vs[0], None
        for v in vs:
            if v.kind != "transform":
                sc = model.score(v.text)
                if sc.probability > top:
                    top, top_view, top_score = sc.probability, v, sc
        default = model.tool_threshold if role in _TOOL_ROLES else model.threshold
        crossed = False
        for r in rules:
            if top < (r.threshold if r.threshold is not None else default):
                continue
            crossed = True
            prev = best.get(r.id)
            if prev is not None and (prev.score or 0.0) >= top:
                continue
            why = " | ".join(model.explain(top_score)) if top_score is not None else ""
            ev = Evidence(field=top_view.field, start=0, end=0, excerpt=f"p={top:.3f}: {why}"[:80])
            best[r.id] = Finding(
                r.id,
                r.description,
                r.owasp,
                r.severity,
                r.action,
                target,
                role,
                (ev,),
                round(top, 4),
            )
        return crossed
