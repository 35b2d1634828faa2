"""Parsers for the sections of a policy document; each reports problems with their line."""

from __future__ import annotations

import dataclasses
from typing import Any, get_args

import re2

from schemas.events import Action, BlockMode, Severity, Target
from streams.policy.rules import OWASP_IDS, MaskKind, Metric, Rule, RuleKind, Subject
from streams.policy.types import SessionPolicy
from streams.policy.validators import VALIDATORS
from streams.policy.yamlnodes import Located

__all__ = ["Checker", "parse_override", "parse_rule", "parse_session"]

_RULE_KEYS = {
    "id", "description", "owasp", "severity", "action", "target", "roles", "patterns", "keywords",
    "validator", "threshold", "mask", "metric", "tools", "enabled", "risk", "transforms",
    "kind", "allow", "subject", "paths", "of_rules",
}  # fmt: skip
_EXPLICIT_KINDS = ("classifier", "allowlist", "derived")
_OVERRIDE_KEYS = {
    "severity",
    "action",
    "enabled",
    "threshold",
    "roles",
    "target",
    "risk",
    "description",
    "allow",
    "paths",
}
_SESSION_KEYS = {f.name for f in dataclasses.fields(SessionPolicy)}


class Checker:
    """Collects problems against one located document."""

    def __init__(self, doc: Located) -> None:
        self.doc = doc
        self.problems: list[str] = []

    def err(self, path: tuple[str | int, ...], msg: str) -> None:
        self.problems.append(self.doc.where(path, msg))

    def choice(self, path: tuple[str | int, ...], value: Any, allowed: tuple[str, ...]) -> bool:
        if value not in allowed:
            self.err(path, f"must be one of {', '.join(allowed)} (got {value!r})")
            return False
        return True

    def str_list(self, path: tuple[str | int, ...], value: Any) -> list[str] | None:
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.err(path, "must be a string or a list of strings")
            return None
        return list(value)


def parse_rule(c: Checker, i: int, d: Any) -> Rule | None:
    p: tuple[str | int, ...] = ("rules", i)
    if not isinstance(d, dict):
        c.err(p, "must be a mapping")
        return None
    for k in d:
        if k not in _RULE_KEYS:
            c.err((*p, k), f"unknown field (known: {', '.join(sorted(_RULE_KEYS))})")
    ok = True
    for req in ("id", "description", "owasp", "severity", "action"):
        if req not in d:
            c.err(p, f"missing required field {req!r}")
            ok = False
    if not ok:
        return None
    if d["owasp"] not in OWASP_IDS:
        c.err((*p, "owasp"), f"must be an OWASP LLM Top 10 id LLM01..LLM10 (got {d['owasp']!r})")
        ok = False
    ok &= c.choice((*p, "severity"), d["severity"], get_args(Severity))
    ok &= c.choice((*p, "action"), d["action"], get_args(Action))
    targets = c.str_list((*p, "target"), d.get("target", "request"))
    for t in targets or []:
        ok &= c.choice((*p, "target"), t, get_args(Target))
    roles = c.str_list((*p, "roles"), d["roles"]) if "roles" in d else None
    patterns = c.str_list((*p, "patterns"), d.get("patterns", [])) or []
    for j, pat in enumerate(patterns):
        try:
            re2.compile(pat)
        except re2.error as exc:
            c.err((*p, "patterns", j), f"invalid RE2 pattern: {exc}")
            ok = False
    keywords = c.str_list((*p, "keywords"), d.get("keywords", [])) or []
    if keywords:
        patterns.append(r"(?i)\b(?:" + "|".join(re2.escape(k) for k in keywords) + r")\b")
    validator = d.get("validator")
    if validator is not None and validator not in VALIDATORS:
        ok &= c.choice((*p, "validator"), validator, tuple(sorted(VALIDATORS)))
    tools = c.str_list((*p, "tools"), d.get("tools", [])) or []
    metric = d.get("metric")
    if metric is not None:
        ok &= c.choice((*p, "metric"), metric, get_args(Metric))
    kind: RuleKind = "volume" if metric else ("tool" if tools else "pattern")
    if "kind" in d:
        if c.choice((*p, "kind"), d["kind"], _EXPLICIT_KINDS):
            kind = d["kind"]
        else:
            ok = False
    allow = c.str_list((*p, "allow"), d.get("allow", [])) or []
    paths = c.str_list((*p, "paths"), d.get("paths", [])) or []
    of_rules = c.str_list((*p, "of_rules"), d.get("of_rules", [])) or []
    subject = d.get("subject")
    if subject is not None:
        ok &= c.choice((*p, "subject"), subject, get_args(Subject))
    if kind == "pattern" and not patterns:
        c.err(p, "needs patterns, keywords, tools, a metric or a kind")
        ok = False
    if kind == "allowlist" and (subject is None or not allow):
        c.err(p, "an allowlist rule needs a subject (model or backend) and allow globs")
        ok = False
    if kind == "derived" and not of_rules:
        c.err(p, "a derived rule needs of_rules (rule id globs)")
        ok = False
    if kind == "classifier" and threshold_out_of_range(d.get("threshold")):
        c.err((*p, "threshold"), "a classifier threshold is a probability between 0 and 1")
        ok = False
    mask = d.get("mask", "phrase")
    ok &= c.choice((*p, "mask"), mask, get_args(MaskKind))
    risk = d.get("risk")
    if risk is not None and (isinstance(risk, bool) or not isinstance(risk, int | float)):
        c.err((*p, "risk"), "must be a number")
        ok = False
    threshold = d.get("threshold")
    if threshold is not None and not isinstance(threshold, int | float):
        c.err((*p, "threshold"), "must be a number")
        ok = False
    if not ok or targets is None:
        return None
    return Rule(
        id=str(d["id"]), description=str(d["description"]), owasp=d["owasp"],
        severity=d["severity"], action=d["action"], targets=frozenset(targets),  # type: ignore[arg-type]
        kind=kind, family="custom", roles=frozenset(roles) if roles is not None else None,
        patterns=tuple(patterns), validator=validator, mask=mask,
        threshold=float(threshold) if threshold is not None else None, metric=metric,
        tools=tuple(tools), transforms=bool(d.get("transforms", False)),
        enabled=bool(d.get("enabled", True)), risk=float(risk) if risk is not None else None,
        allow=tuple(allow), subject=subject, paths=tuple(paths), of_rules=tuple(of_rules),
    )  # fmt: skip


def threshold_out_of_range(v: Any) -> bool:
    """Whether `v` is a number outside 0..1 (a classifier threshold must be a probability)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and not 0.0 <= v <= 1.0


def parse_override(c: Checker, rid: str, r: Rule, d: Any) -> Rule:
    p: tuple[str | int, ...] = ("overrides", rid)
    if not isinstance(d, dict):
        c.err(p, "must be a mapping of fields to change")
        return r
    changes: dict[str, Any] = {}
    for k, v in d.items():
        kp = (*p, k)
        if k not in _OVERRIDE_KEYS:
            c.err(kp, f"cannot override (allowed: {', '.join(sorted(_OVERRIDE_KEYS))})")
        elif k == "severity" and c.choice(kp, v, get_args(Severity)):
            changes[k] = v
        elif k == "action" and c.choice(kp, v, get_args(Action)):
            changes[k] = v
        elif k == "enabled":
            changes[k] = bool(v)
        elif k in ("threshold", "risk"):
            if not isinstance(v, int | float) or isinstance(v, bool):
                c.err(kp, "must be a number")
            elif k == "threshold" and r.kind == "classifier" and threshold_out_of_range(v):
                c.err(kp, "a classifier threshold is a probability between 0 and 1")
            else:
                changes[k] = float(v)
        elif k in ("allow", "paths"):
            globs = c.str_list(kp, v)
            if globs is not None:
                changes[k] = tuple(globs)
        elif k == "roles":
            roles = c.str_list(kp, v)
            if roles is not None:
                changes[k] = frozenset(roles)
        elif k == "target":
            targets = c.str_list(kp, v)
            if targets is not None and all(c.choice(kp, t, get_args(Target)) for t in targets):
                changes["targets"] = frozenset(targets)
        elif k == "description":
            changes[k] = str(v)
    return dataclasses.replace(r, **changes)


def parse_session(c: Checker, base: SessionPolicy, d: Any) -> SessionPolicy:
    if not isinstance(d, dict):
        c.err(("session",), "must be a mapping")
        return base
    changes: dict[str, Any] = {}
    for k, v in d.items():
        kp: tuple[str | int, ...] = ("session", k)
        if k not in _SESSION_KEYS:
            c.err(kp, f"unknown field (known: {', '.join(sorted(_SESSION_KEYS))})")
        elif k == "kill_block_mode":
            if c.choice(kp, v, get_args(BlockMode)):
                changes[k] = v
        elif k == "severity_weights":
            if isinstance(v, dict) and all(
                s in get_args(Severity) and isinstance(w, int | float) for s, w in v.items()
            ):
                changes[k] = {**base.severity_weights, **{s: float(w) for s, w in v.items()}}
            else:
                c.err(kp, "must map info/warning/high/critical to numbers")
        elif isinstance(v, int | float) and not isinstance(v, bool) and v > 0:
            changes[k] = float(v)
        else:
            c.err(kp, "must be a positive number")
    return dataclasses.replace(base, **changes)
