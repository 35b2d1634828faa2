"""Filters, throttling, signatures, the URL guard and the offset tracker of the alerts service."""

from __future__ import annotations

import pytest

from schemas.events import SessionCommand, Violation
from streams.alerts.errors import WebhookRefused
from streams.alerts.offsets import OffsetTracker
from streams.alerts.selection import Throttle, matches
from streams.alerts.settings import WebhookSpec
from streams.alerts.signing import sign, verify
from streams.alerts.urlguard import UrlGuard


def _v(
    session: str = "s", severity: str = "high", owasp: str = "LLM01", rule: str = "PI-001"
) -> Violation:
    return Violation(
        source="t",
        session_id=session,
        rule_id=rule,
        owasp=owasp,
        severity=severity,  # type: ignore[arg-type]
        action="flag",
        enforced=True,
        target="request",
    )


def _cmd(session: str = "s") -> SessionCommand:
    return SessionCommand(
        source="t", session_id=session, command="kill", issuer="op", decision_id="d"
    )


def _spec(**kw: object) -> WebhookSpec:
    return WebhookSpec(name="w", url="https://example.com/hook", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "event", "selected"),
    [
        ({}, _v(severity="warning"), True),
        ({}, _v(severity="info"), False),
        ({"min_severity": "critical"}, _v(severity="high"), False),
        ({"owasp": ["LLM07"]}, _v(owasp="LLM01"), False),
        ({"owasp": ["LLM01"]}, _v(owasp="LLM01"), True),
        ({"rules": ["PII-*"]}, _v(rule="PII-004"), True),
        ({"rules": ["PII-*"]}, _v(rule="PI-001"), False),
        ({"rules": ["PI-001"]}, _v(rule="PI-0011"), False),
        ({"teams": ["red"]}, _v(), False),
        ({}, _cmd(), True),
        ({"commands": False}, _cmd(), False),
    ],
)
def test_filters(
    spec: dict[str, object], event: Violation | SessionCommand, selected: bool
) -> None:
    assert matches(_spec(**spec), event) is selected


def test_throttle_one_alert_per_session_window_commands_always_pass() -> None:
    t = Throttle(window_s=60, capacity=1000)
    assert t.admit("w", _v("a"), now=0.0)
    assert not t.admit("w", _v("a"), now=30.0)
    assert t.admit("other", _v("a"), now=30.0)
    assert t.admit("w", _v("b"), now=30.0)
    assert t.admit("w", _cmd("a"), now=31.0)
    assert t.admit("w", _v("a"), now=61.0)
    assert t.suppressed == 1


def test_throttle_memory_is_bounded_under_a_flood_of_session_ids() -> None:
    t = Throttle(window_s=60, capacity=100)
    for i in range(10_000):
        t.admit("w", _v(f"s{i}"), now=float(i))
    assert len(t) == 100


def test_signature_roundtrip_and_tampering() -> None:
    secret, body = b"k3y", b'{"a":1}'
    header = sign(secret, body, 1_000)
    assert verify(secret, body, header, now=1_010)
    assert not verify(secret, body + b" ", header, now=1_010)
    assert not verify(b"other", body, header, now=1_010)
    assert not verify(secret, body, header, now=5_000)  # replayed long after
    assert not verify(secret, body, "garbage", now=1_000)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "http://0.0.0.0/hook",
        "ftp://example.com/hook",
        "http:///nohost",
    ],
)
def test_url_guard_refuses_internal_addresses(url: str) -> None:
    with pytest.raises(WebhookRefused):
        UrlGuard([]).check(url)


def test_url_guard_allow_list() -> None:
    UrlGuard(["127.0.0.1"]).check("http://127.0.0.1:9/hook")
    UrlGuard(["127.0.0.0/8"]).check("http://127.0.0.2:9/hook")
    with pytest.raises(WebhookRefused):  # a loopback allowance does not open metadata
        UrlGuard(["127.0.0.0/8"]).check("http://169.254.169.254/")


def test_offset_tracker_commits_only_what_is_done_in_order() -> None:
    t = OffsetTracker()
    tp = ("violations", 0)
    t.add(tp, 10, 2)
    t.add(tp, 11, 0)
    t.add(tp, 12, 1)
    assert t.committable() == {tp: 10}
    t.done(tp, 12)
    assert t.committable() == {tp: 10}
    t.done(tp, 10)
    assert t.committable() == {tp: 10}
    t.done(tp, 10)
    assert t.committable() == {tp: 13}
    assert t.outstanding() == 0
