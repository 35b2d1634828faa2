"""Policy files: presets and YAML documents that extend, add, override and suppress rules.

A document (all keys optional)::

    extends: standard            # a preset name, or a file in this file's directory
                                 # (relative, no `..`, symlinks must stay inside)
    builtin: all | [PI-001, ...] # presets only: which catalogue rules to start from
    mode: enforce | audit
    scan_history: false          # true: judge every message of every request, even judged ones
    session: {risk_kill_threshold: 100, risk_half_life_s: 600, kill_block_mode: duration,
              kill_duration_s: 900, severity_weights: {high: 25}}
    rules: [{id, description, owasp, severity, action, target, roles, patterns | keywords,
             validator, threshold, mask, metric, tools}]
    overrides: {PI-001: {severity, action, enabled, threshold, roles, target, risk}}
    suppress: [PII-006]

Every problem is reported at once as `file:line: field: message`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from streams.policy.catalogue import by_id
from streams.policy.engine import PolicyEngine
from streams.policy.errors import PolicyValidationError
from streams.policy.rules import Rule
from streams.policy.sections import Checker, parse_override, parse_rule, parse_session
from streams.policy.types import Mode, SessionPolicy
from streams.policy.yamlnodes import Located, load_located

__all__ = ["PRESETS", "load_policy", "validate_file"]

PRESETS = ("minimal", "standard", "strict")
_TOP = {
    "extends", "builtin", "mode", "session", "rules", "overrides", "suppress", "description",
    "scan_history",
}  # fmt: skip


@dataclass
class _State:
    rules: dict[str, Rule] = field(default_factory=dict)
    mode: Mode = "enforce"
    scan_history: bool = False
    session: SessionPolicy = field(default_factory=SessionPolicy)


def _read_preset(name: str) -> Located:
    text = resources.files("streams.policy").joinpath("presets", f"{name}.yaml").read_text()
    return load_located(text, f"preset:{name}")


def _base(extends: str, doc: Located, depth: int) -> _State:
    if extends in PRESETS:
        return _apply(_read_preset(extends), None, depth + 1)
    if doc.name.startswith("preset:"):
        raise PolicyValidationError([doc.where(("extends",), "a preset extends presets only")])
    base_dir = Path(doc.name).parent
    path = _inside(base_dir, extends)
    if path is None:
        # Same answer whether or not such a file exists: no file-existence oracle.
        raise PolicyValidationError(
            [
                doc.where(
                    ("extends",),
                    f"{extends!r} is not a preset ({', '.join(PRESETS)}) nor a policy file "
                    "in this file's directory",
                )
            ]
        )
    return _apply(load_located(path.read_text(), str(path)), None, depth + 1)


def _inside(base_dir: Path, name: str) -> Path | None:
    """`base_dir/name` when it is a file that stays under `base_dir`, else None."""
    candidate = Path(name)
    if candidate.is_absolute() or ".." in candidate.parts or not name.strip():
        return None
    try:
        root = base_dir.resolve(strict=True)
        path = (root / candidate).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def _apply(doc: Located, base: _State | None, depth: int = 0) -> _State:
    if depth > 8:
        raise PolicyValidationError([doc.where(("extends",), "extends chain too deep (a cycle?)")])
    c = Checker(doc)
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
        state = _State(dict(base.rules), base.mode, base.scan_history, base.session)
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
    if "scan_history" in d:
        if isinstance(d["scan_history"], bool):
            state.scan_history = d["scan_history"]
        else:
            c.err(("scan_history",), "must be true or false")
    if "session" in d:
        state.session = parse_session(c, state.session, d["session"])
    rules = d.get("rules", [])
    if not isinstance(rules, list):
        c.err(("rules",), "must be a list of rules")
        rules = []
    for i, rd in enumerate(rules):
        r = parse_rule(c, i, rd)
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
            state.rules[rid] = parse_override(c, rid, known, od)
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
        scan_history=state.scan_history,
    )


def validate_file(path: Path) -> PolicyEngine:
    """Validate one policy file on top of the standard preset (raises `PolicyValidationError`)."""
    return load_policy("standard", [path])
