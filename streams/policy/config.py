"""Policy files: presets and YAML documents that extend, add, override and suppress rules.

A document (all keys optional)::

    extends: standard            # a preset name, or a path relative to this file
    builtin: all | [PI-001, ...] # presets only: which catalogue rules to start from
    mode: enforce | audit
    session: {risk_kill_threshold: 100, risk_half_life_s: 600, kill_block_mode: duration,
              kill_duration_s: 900, severity_weights: {high: 25}}
    rules: [{id, description, owasp, severity, action, target, roles, patterns | keywords,
             validator, threshold, mask, metric, tools}]
    overrides: {PI-001: {severity, action, enabled, threshold, roles, target, risk}}
    suppress: [PII-006]

Every problem is reported at once as `file:line: field: message`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, get_args

import re2

from schemas.events import Action, BlockMode, Severity, Target
from streams.policy.catalogue import by_id
from streams.policy.engine import Mode, PolicyEngine, SessionPolicy
from streams.policy.errors import PolicyValidationError
from streams.policy.rules import OWASP_IDS, Metric, Rule, RuleKind
from streams.policy.validators import VALIDATORS
from streams.policy.yamlnodes import Located, load_located

__all__ = ["PRESETS", "load_policy", "validate_file"]

PRESETS = ("minimal", "standard", "strict")
_TOP = {"extends", "builtin", "mode", "session", "rules", "overrides", "suppress", "description"}
_RULE_KEYS = {
    "id", "description", "owasp", "severity", "action", "target", "roles", "patterns", "keywords",
    "validator", "threshold", "mask", "metric", "tools", "enabled", "risk", "transforms",
}  # fmt: skip
_OVERRIDE_KEYS = {
    "severity",
    "action",
    "enabled",
    "threshold",
    "roles",
    "target",
    "risk",
    "description",
}
_SESSION_KEYS = {f.name for f in dataclasses.fields(SessionPolicy)}


@dataclass
class _State:
    rules: dict[str, Rule] = field(default_factory=dict)
    mode: Mode = "enforce"
    session: SessionPolicy = field(default_factory=SessionPolicy)


class _Checker:
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


def _read_preset(name: str) -> Located:
    text = resources.files("streams.policy").joinpath("presets", f"{name}.yaml").read_text()
    return load_located(text, f"preset:{name}")


def _base(extends: str, doc: Located, depth: int) -> _State:
    if extends in PRESETS:
        return _apply(_read_preset(extends), None, depth + 1)
    base_dir = Path(doc.name).parent if not doc.name.startswith("preset:") else Path(".")
    path = base_dir / extends
    if not path.is_file():
        raise PolicyValidationError(
            [doc.where(("extends",), f"no preset or file named {extends!r}")]
        )
    return _apply(load_located(path.read_text(), str(path)), None, depth + 1)


def _custom_rule(c: _Checker, i: int, d: Any) -> Rule | None:
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
    if kind == "pattern" and not patterns:
        c.err(p, "needs patterns, keywords, tools or a metric")
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
        patterns=tuple(patterns), validator=validator, mask=d.get("mask", "phrase"),
        threshold=float(threshold) if threshold is not None else None, metric=metric,
        tools=tuple(tools), transforms=bool(d.get("transforms", False)),
        enabled=bool(d.get("enabled", True)), risk=d.get("risk"),
    )  # fmt: skip


def _override(c: _Checker, rid: str, r: Rule, d: Any) -> Rule:
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
            if isinstance(v, int | float) and not isinstance(v, bool):
                changes[k] = float(v)
            else:
                c.err(kp, "must be a number")
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


def _session(c: _Checker, base: SessionPolicy, d: Any) -> SessionPolicy:
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


def _apply(doc: Located, base: _State | None, depth: int = 0) -> _State:
    if depth > 8:
        raise PolicyValidationError([doc.where(("extends",), "extends chain too deep (a cycle?)")])
    c = _Checker(doc)
    d = doc.value
    if not isinstance(d, dict):
        raise PolicyValidationError([doc.where((), "a policy must be a mapping")])
    for k in d:
        if k not in _TOP:
            c.err((k,), f"unknown field (known: {', '.join(sorted(_TOP))})")
    catalogue = by_id()
    if "extends" in d:
        state = _base(str(d["extends"]), doc, depth)
    elif base is not None:
        state = _State(dict(base.rules), base.mode, base.session)
    else:
        state = _State()
    if "builtin" in d:
        ids = list(catalogue) if d["builtin"] == "all" else c.str_list(("builtin",), d["builtin"])
        for j, rid in enumerate(ids or []):
            if rid in catalogue:
                state.rules[rid] = catalogue[rid]
            else:
                c.err(("builtin", j), f"unknown built-in rule {rid!r}")
    if "mode" in d and c.choice(("mode",), d["mode"], ("enforce", "audit")):
        state.mode = "audit" if d["mode"] == "audit" else "enforce"
    if "session" in d:
        state.session = _session(c, state.session, d["session"])
    rules = d.get("rules", [])
    if not isinstance(rules, list):
        c.err(("rules",), "must be a list of rules")
        rules = []
    for i, rd in enumerate(rules):
        r = _custom_rule(c, i, rd)
        if r is None:
            continue
        if r.id in state.rules or r.id in catalogue:
            c.err(("rules", i, "id"), f"rule {r.id!r} already exists: change it under overrides")
        else:
            state.rules[r.id] = r
    overrides = d.get("overrides", {})
    if isinstance(overrides, list):  # also accept [{id: ..., field: ...}]
        overrides = {
            str(o.get("id")): {k: v for k, v in o.items() if k != "id"}
            for o in overrides
            if isinstance(o, dict)
        }
    if not isinstance(overrides, dict):
        c.err(("overrides",), "must map rule ids to changes")
        overrides = {}
    for rid, od in overrides.items():
        known = state.rules.get(rid) or catalogue.get(rid)
        if known is None:
            c.err(("overrides", rid), f"unknown rule {rid!r}")
        else:
            state.rules[rid] = _override(c, rid, known, od)
    for j, rid in enumerate(c.str_list(("suppress",), d.get("suppress", [])) or []):
        if rid not in state.rules and rid not in catalogue:
            c.err(("suppress", j), f"unknown rule {rid!r}")
        state.rules.pop(rid, None)
    if c.problems:
        raise PolicyValidationError(c.problems)
    return state


def load_policy(preset: str = "standard", files: Sequence[Path] = ()) -> PolicyEngine:
    """An engine from a preset plus policy files applied in order (raises `PolicyValidationError`)."""
    if preset not in PRESETS:
        raise PolicyValidationError([f"<preset>:1: preset: must be one of {', '.join(PRESETS)}"])
    state = _apply(_read_preset(preset), None)
    for f in files:
        path = Path(f)
        try:
            text = path.read_text()
        except OSError as exc:
            raise PolicyValidationError([f"{path}:1: <file>: cannot read: {exc.strerror}"]) from exc
        state = _apply(load_located(text, str(path)), state)
    name = "+".join([preset, *(Path(f).name for f in files)])
    return PolicyEngine(
        list(state.rules.values()),
        mode=state.mode,
        session=state.session,
        name=name,
    )


def validate_file(path: Path) -> PolicyEngine:
    """Validate one policy file on top of the standard preset (raises `PolicyValidationError`)."""
    return load_policy("standard", [path])
