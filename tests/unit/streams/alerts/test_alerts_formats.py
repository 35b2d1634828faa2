"""Webhook bodies: OCSF Detection Finding fields, Slack blocks, plain JSON."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.events import Evidence, SessionCommand, Violation
from streams.alerts.formats import to_json, to_ocsf, to_slack

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _violation(**kw: object) -> Violation:
    fields: dict[str, object] = {
        "source": "streams-1",
        "session_id": "s-1",
        "request_id": "r-1",
        "time": AT,
        "rule_id": "PI-001",
        "description": "instruction override",
        "owasp": "LLM01",
        "severity": "high",
        "action": "block",
        "enforced": True,
        "target": "request",
        "role": "user",
        "subject_event_id": "e-req",
        "subject_event_type": "llm.request.v1",
        "evidence": [Evidence(field="messages[0]", start=0, end=6, excerpt="Ign***")],
        "risk_score": 42.5,
        **kw,
    }
    return Violation(**fields)  # type: ignore[arg-type]


def test_ocsf_detection_finding_required_fields() -> None:
    out = to_ocsf(_violation())
    assert out["class_uid"] == 2004 and out["category_uid"] == 2
    assert out["activity_id"] == 1 and out["type_uid"] == 200401
    assert out["time"] == int(AT.timestamp() * 1000)
    assert out["severity_id"] == 4 and out["severity"] == "High"
    assert out["metadata"]["version"].startswith("1.")
    assert out["metadata"]["product"]["name"] == "modeltrail"
    assert out["metadata"]["correlation_uid"] == "s-1"
    info = out["finding_info"]
    assert info["uid"] == _violation().event_id or info["uid"]
    assert info["title"].startswith("PI-001") and info["types"] == ["LLM01"]
    assert info["analytic"] == {"uid": "PI-001", "name": "PI-001", "type_id": 1, "type": "Rule"}
    assert info["related_events"] == [{"uid": "e-req", "type": "llm.request.v1"}]
    assert out["action_id"] == 2 and out["disposition_id"] == 2
    assert out["evidences"][0]["data"]["excerpt"] == "Ign***"
    assert out["risk_score"] == 42


@pytest.mark.parametrize(
    ("severity", "severity_id"), [("info", 1), ("warning", 3), ("high", 4), ("critical", 5)]
)
def test_ocsf_severity_mapping(severity: str, severity_id: int) -> None:
    assert to_ocsf(_violation(severity=severity))["severity_id"] == severity_id


@pytest.mark.parametrize(
    ("action", "enforced", "action_id", "disposition_id"),
    [("flag", True, 1, 17), ("block", False, 1, 17), ("kill", True, 2, 2)],
)
def test_ocsf_audit_mode_and_flags_are_logged_not_denied(
    action: str, enforced: bool, action_id: int, disposition_id: int
) -> None:
    out = to_ocsf(_violation(action=action, enforced=enforced, mode="enforce"))
    assert (out["action_id"], out["disposition_id"]) == (action_id, disposition_id)


def test_slack_blocks_for_violation_and_command() -> None:
    v = to_slack(_violation())
    assert v["blocks"][0]["type"] == "header" and "PI-001" in v["text"]
    cmd = SessionCommand(
        source="streams-1",
        session_id="s-1",
        command="kill",
        block_mode="permanent",
        reason="risk crossed 100",
        issuer="streams-1",
        decision_id="d-1",
    )
    c = to_slack(cmd)
    assert "kill" in c["text"] and "risk crossed 100" in c["text"]
    assert any("s-1" in f["text"] for f in c["blocks"][2]["fields"])


def test_json_is_the_event_itself() -> None:
    v = _violation()
    assert to_json(v)["event_id"] == v.event_id and to_json(v)["type"] == "audit.violation.v1"
