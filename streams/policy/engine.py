"""The policy engine: a compiled rule set that judges one event at a time.

Pure: no I/O, no clock, no await. `evaluate(event, ctx)` normalises each text
of the event once, runs every content rule in one RE2 set pass per text,
checks tool calls and the session's volume against `ctx`, and returns
findings. The faust agents, the proxy (inline checks) and the CLI share it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from functools import lru_cache
from typing import Any

import re2

from schemas.events import (
    Evidence,
    LLMRequest,
    LLMResponse,
    StreamWindow,
    Target,
)
from streams.policy.catalogue.entity_types import ENTITY_OF_RULE
from streams.policy.context import allowlist_findings, derived_findings
from streams.policy.evidence import MAX_EVIDENCE, evidence
from streams.policy.learned import LearnedRules
from streams.policy.matcher import Hit, Matcher
from streams.policy.normalize import Signals, views
from streams.policy.rules import ALL_TARGETS, Rule, RuleKind
from streams.policy.types import SEVERITY_RANK, Finding, Mode, SessionContext, SessionPolicy

__all__ = ["PolicyEngine", "resolve_overlaps"]

# (target, role, field, text): one text of an event as the rules see it.
_Unit = tuple[Target, str | None, str, str]
# A session metric's value for one event (`_METRICS`).
_Metric = Callable[[Any, SessionContext], float | None]
# What the proxy's PII transform left in place of a value it found (`⟦EMAIL_1⟧`).
_PLACEHOLDER = re2.compile("\u27e6([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*?)_\\d{1,6}\u27e7")


def _picked(event: LLMRequest, scan_history: bool, new_parts: Sequence[int] | None) -> list[int]:
    """Indices of the request's parts with text that are judged.

    Chat clients resend the whole conversation each turn: the caller's memory of judged
    parts (`new_parts`) keeps one injected message from being reported (and scored) on
    every later request, without trusting where the "new turn" starts.
    """
    msgs = event.messages
    pick = range(len(msgs)) if scan_history or new_parts is None else new_parts
    return [i for i in pick if msgs[i].content]


def _units(
    event: LLMRequest | LLMResponse | StreamWindow,
    scan_history: bool,
    new_parts: Sequence[int] | None,
) -> list[_Unit]:
    out: list[_Unit] = []
    if isinstance(event, LLMRequest):
        msgs = event.messages
        for i in _picked(event, scan_history, new_parts):
            out.append(("request", msgs[i].role, f"messages[{i}].content", msgs[i].content))
        return out
    text = event.text
    target: Target = "response" if isinstance(event, LLMResponse) else "stream_window"
    if text:
        out.append((target, "assistant", "text", text))
    for i, tc in enumerate(event.tool_calls):
        if tc.arguments:
            out.append(("tool_call", "assistant", f"tool_calls[{i}].arguments", tc.arguments))
    return out


_REQUESTS: frozenset[type] = frozenset({LLMRequest})
_RESPONSES: frozenset[type] = frozenset({LLMResponse})


def _duration(event: Any, ctx: SessionContext) -> float | None:
    return None if ctx.started_at is None else (ctx.now - ctx.started_at).total_seconds()


def _rate_anomaly(event: Any, ctx: SessionContext) -> float | None:
    if ctx.baseline_rpm is None or ctx.baseline_samples < 5 or ctx.requests_last_minute < 10:
        return None
    return ctx.requests_last_minute / max(ctx.baseline_rpm, 1.0)


# Each session metric of a volume rule: the events it is measured on, and its value for one
# of them given the session's state (None: not measurable yet).
_METRICS: dict[str, tuple[frozenset[type], _Metric]] = {
    "requests_per_minute": (_REQUESTS, lambda ev, ctx: float(ctx.requests_last_minute)),
    "session_duration_s": (_REQUESTS, _duration),
    "bytes_total": (_REQUESTS, lambda ev, ctx: float(ctx.bytes_total)),
    "prompt_chars": (_REQUESTS, lambda ev, ctx: float(sum(len(m.content) for m in ev.messages))),
    "rate_anomaly": (_REQUESTS, _rate_anomaly),
    "tokens_total": (_RESPONSES, lambda ev, ctx: float(ctx.tokens_total)),
    "tool_calls_total": (_RESPONSES, lambda ev, ctx: float(ctx.tool_calls_total)),
    "tool_calls_per_event": (
        frozenset({LLMResponse, StreamWindow}),
        lambda ev, ctx: float(len(ev.tool_calls)),
    ),
}

# The role of a text whose role no rule names (rules for every role apply to it).
_OTHER_ROLE = "\x00other"


@lru_cache(maxsize=64)
def _matcher(rules: tuple[Rule, ...]) -> Matcher:
    """The compiled matcher of `rules`, shared by the engines (and reloads) that have them."""
    return Matcher(list(rules))


def resolve_overlaps(hits: list[Hit]) -> list[Hit]:
    """Drop hits that overlap a hit of a rule they yield to (a card number is not a phone)."""
    if not any(h.rule.yields_to for h in hits):
        return hits
    spans: dict[str, list[tuple[int, int]]] = {}
    for h in hits:
        spans.setdefault(h.rule.id, []).append((h.start, h.end))
    return [
        h
        for h in hits
        if not any(
            s < h.end and h.start < e for rid in h.rule.yields_to for s, e in spans.get(rid, ())
        )
    ]


class PolicyEngine:
    """An immutable, compiled rule set plus mode and session thresholds."""

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        mode: Mode = "enforce",
        session: SessionPolicy | None = None,
        name: str = "custom",
        scan_history: bool = False,
    ) -> None:
        self.rules: tuple[Rule, ...] = tuple(r for r in rules if r.enabled)
        self.mode: Mode = mode
        self.session: SessionPolicy = session or SessionPolicy()
        self.name = name
        self.scan_history = scan_history
        self._by_id = {r.id: r for r in self.rules}
        # The rules of each kind: an event walks only the kinds that apply to it.
        self._of_kind: dict[RuleKind, tuple[Rule, ...]] = {}
        for r in self.rules:
            self._of_kind[r.kind] = (*self._of_kind.get(r.kind, ()), r)
        # The volume rules each kind of event is measured for, with their metric (`_METRICS`).
        self._volume_on: dict[type, tuple[tuple[Rule, _Metric, float], ...]] = {
            kind: tuple(
                (r, _METRICS[r.metric][1], r.threshold)
                for r in self._of_kind.get("volume", ())
                if r.threshold is not None
                and r.metric in _METRICS
                and kind in _METRICS[r.metric][0]
            )
            for kind in (LLMRequest, LLMResponse, StreamWindow)
        }
        # One matcher per set of pattern rules that apply to a kind of text (a user message,
        # a response, a rewrite): a text is scanned only for what can be reported on it, so a
        # response does not pay for the injection phrasings only requests are judged on, and
        # rewrites (rot13, leetspeak) only feed the few rules that ask for them. Built here,
        # for every target and every role a rule names, so no request waits on a compile.
        self._roles = frozenset(x for r in self.rules if r.roles for x in r.roles)
        self._judging: dict[tuple[Target, str | None, bool], Matcher] = {}
        for target in sorted(ALL_TARGETS):
            for role in (None, _OTHER_ROLE, *sorted(self._roles)):
                self.matcher_for(target, role)
                self.matcher_for(target, role, transformed=True)
        # Entity type -> the enabled rules that find it, strongest first.
        self._by_entity: dict[str, list[Rule]] = {}
        for r in sorted(self.rules, key=lambda r: -SEVERITY_RANK[r.severity]):
            kind = ENTITY_OF_RULE.get(r.id)
            if kind is not None and r.kind == "pattern":
                self._by_entity.setdefault(kind, []).append(r)
        self._learned = LearnedRules([r for r in self.rules if r.kind == "classifier"])
        self.version = self._hash()

    def _hash(self) -> str:
        doc = {
            "mode": self.mode,
            "scan_history": self.scan_history,
            "session": asdict(self.session),
            "rules": [r.summary() for r in sorted(self.rules, key=lambda r: r.id)],
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]

    def rule(self, rule_id: str) -> Rule | None:
        """The enabled rule with this id, if any."""
        return self._by_id.get(rule_id)

    def risk_points(self, finding: Finding) -> float:
        """Risk a finding adds to its session's score (the rule's own weight, else by severity)."""
        r = self._by_id.get(finding.rule_id)
        if r is not None and r.risk is not None:
            return r.risk
        return self.session.severity_weights.get(finding.severity, 0.0)

    # -- content -------------------------------------------------------------------------

    def matcher_for(self, target: Target, role: str | None, transformed: bool = False) -> Matcher:
        """The matcher of exactly the pattern rules that judge text of `target` by `role`
        (a rewrite of it when `transformed`)."""
        if role is not None and role not in self._roles:
            role = _OTHER_ROLE  # a role no rule names: only the rules for every role apply
        key = (target, role, transformed)
        matcher = self._judging.get(key)
        if matcher is None:
            chosen = tuple(
                r
                for r in self.rules
                if r.kind == "pattern"
                and r.applies(target, role)
                and (r.transforms or not transformed)
            )
            matcher = self._judging[key] = _matcher(chosen)
        return matcher

    def _scan(self, units: list[_Unit], quiet: list[int] | None = None) -> list[Finding]:
        """Content findings of `units`; appends to `quiet` the position of each unit that
        gave no signal at all (no pattern hit, smuggling sign, placeholder or classifier
        score over a threshold): judging it again, alone or with others, adds nothing."""
        hits: dict[str, list[Evidence]] = {}
        counts: dict[str, int] = {}
        first: dict[str, tuple[Target, str | None]] = {}
        learned: dict[str, Finding] = {}
        for pos, (target, role, fld, text) in enumerate(units):
            plain = self.matcher_for(target, role)
            rewrites = self.matcher_for(target, role, transformed=True)
            vs, signals = views(text, fld, transforms=not rewrites.empty)
            loud = self._learned.classify(vs, target, role, learned) or signals.any()
            for v in vs:
                raw = list((rewrites if v.kind == "transform" else plain).scan(v))
                loud = loud or bool(raw)
                for hit in resolve_overlaps(raw):
                    rid = hit.rule.id
                    counts[rid] = counts.get(rid, 0) + 1
                    first.setdefault(rid, (target, role))
                    ev = hits.setdefault(rid, [])
                    if len(ev) < MAX_EVIDENCE:
                        ev.append(evidence(hit))
            self._smuggling(signals, target, role, fld, hits, counts, first)
            for r, found in self._placeholders(text, target, role, fld) if "\u27e6" in text else ():
                loud = True
                counts[r.id] = counts.get(r.id, 0) + 1
                first.setdefault(r.id, (target, role))
                if len(hits.setdefault(r.id, [])) < MAX_EVIDENCE:
                    hits[r.id].append(found)
            if quiet is not None and not loud:
                quiet.append(pos)
        out: list[Finding] = []
        for rid, n in counts.items():
            r = self._by_id[rid]
            if n < (r.threshold or 1):
                continue
            target, role = first[rid]
            out.append(self._finding(r, target, role, tuple(hits.get(rid, ()))))
        out.extend(learned.values())
        return out

    def _smuggling(
        self,
        signals: Signals,
        target: Target,
        role: str | None,
        fld: str,
        hits: dict[str, list[Evidence]],
        counts: dict[str, int],
        first: dict[str, tuple[Target, str | None]],
    ) -> None:
        if not (signals.tag_chars or signals.invisible_chars):
            return
        for r in self._of_kind.get("smuggling", ()):
            if not r.applies(target, role):
                continue
            n = signals.tag_chars if r.metric == "tag_chars" else signals.invisible_chars
            if n >= (r.threshold or 1):
                counts[r.id] = counts.get(r.id, 0) + n
                first.setdefault(r.id, (target, role))
                excerpt = f"{n} hidden characters"
                hits.setdefault(r.id, []).append(
                    Evidence(field=fld, start=0, end=0, excerpt=excerpt)
                )

    def _placeholders(
        self, text: str, target: Target, role: str | None, fld: str
    ) -> list[tuple[Rule, Evidence]]:
        """A PII placeholder counts as a hit of the strongest rule that finds its type.

        The proxy replaced the value before emitting the event (`capture: transformed`),
        so the rules that would have matched it are credited with the placeholder.
        """
        out: list[tuple[Rule, Evidence]] = []
        for m in _PLACEHOLDER.finditer(text):
            rules = self._by_entity.get(m.group(1), ())
            r = next((r for r in rules if r.applies(target, role)), None)
            if r is not None:
                start, end = m.span()
                out.append((r, Evidence(field=fld, start=start, end=end, excerpt=m.group())))
        return out

    @staticmethod
    def _finding(r: Rule, target: Target, role: str | None, ev: tuple[Evidence, ...]) -> Finding:
        return Finding(r.id, r.description, r.owasp, r.severity, r.action, target, role, ev)

    # -- tools and volume ----------------------------------------------------------------

    def _tools(self, event: LLMResponse | StreamWindow) -> list[Finding]:
        out: list[Finding] = []
        if not event.tool_calls:
            return out
        for r in self._of_kind.get("tool", ()):
            ev = [
                Evidence(field=f"tool_calls[{i}].name", start=0, end=len(tc.name), excerpt=tc.name)
                for i, tc in enumerate(event.tool_calls)
                if any(fnmatch.fnmatchcase(tc.name.lower(), g.lower()) for g in r.tools)
            ]
            if ev:
                out.append(self._finding(r, "tool_call", "assistant", tuple(ev[:MAX_EVIDENCE])))
        return out

    def _volume(
        self, event: LLMRequest | LLMResponse | StreamWindow, ctx: SessionContext
    ) -> list[Finding]:
        out: list[Finding] = []
        for r, metric, limit in self._volume_on.get(type(event), ()):
            value = metric(event, ctx)
            if value is None or value <= limit:
                continue
            target: Target = "request" if r.metric == "prompt_chars" else "session"
            if r.metric == "tool_calls_per_event":
                target = "tool_call"
            excerpt = f"{r.metric}={value:g} > {limit:g}"
            ev = (Evidence(field=str(r.metric), start=0, end=0, excerpt=excerpt),)
            out.append(self._finding(r, target, None, ev))
        return out

    # -- public --------------------------------------------------------------------------

    def evaluate(
        self,
        event: LLMRequest | LLMResponse | StreamWindow,
        ctx: SessionContext,
        quiet: list[int] | None = None,
    ) -> list[Finding]:
        """Every finding for one event given its session's state (which includes this event).

        With `quiet`, a request's judged parts that gave no signal at all are appended to
        it (their indices in `event.messages`): a cache of such parts may skip them later.
        """
        units = _units(event, self.scan_history, ctx.new_parts)
        silent: list[int] | None = [] if quiet is not None else None
        findings = self._scan(units, silent)
        if quiet is not None and silent and isinstance(event, LLMRequest):
            picked = _picked(event, self.scan_history, ctx.new_parts)
            quiet.extend(picked[pos] for pos in silent)
        if not isinstance(event, LLMRequest):
            findings += self._tools(event)
        else:
            findings += allowlist_findings(self._of_kind.get("allowlist", ()), event)
            findings += derived_findings(self._of_kind.get("derived", ()), event, findings)
        findings += self._volume(event, ctx)
        return findings

    def evaluate_text(
        self,
        text: str,
        *,
        role: str = "user",
        target: Target = "request",
        ctx: SessionContext | None = None,
    ) -> list[Finding]:
        """Content findings for one bare text, as if it were one message of `target`."""
        return self._scan([(target, role, "text", text)])
