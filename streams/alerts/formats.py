"""Webhook bodies: the event as JSON, an OCSF 1.3 Detection Finding, a Slack message. Pure.

OCSF mapping of a `Violation` (class Detection Finding, 2004; category Findings, 2):

| OCSF field                          | from                                              |
|-------------------------------------|---------------------------------------------------|
| class_uid / category_uid            | 2004 / 2                                          |
| activity_id / type_uid              | 1 (Create) / 200401                               |
| time                                | `time`, epoch milliseconds                        |
| severity_id / severity              | info→1 Informational, warning→3 Medium,           |
|                                     | high→4 High, critical→5 Critical                  |
| status_id                           | 1 (New)                                           |
| action_id / action                  | enforced block or kill → 2 Denied; else 1 Allowed |
| disposition_id                      | kill→2 Blocked (session), block→2 Blocked,        |
|                                     | flag or audit mode→17 Logged                      |
| message                             | `description`                                     |
| finding_info.uid                    | `event_id`                                        |
| finding_info.title                  | `rule_id`: `description`                          |
| finding_info.types                  | [`owasp`] (OWASP LLM Top 10 2025 id)              |
| finding_info.analytic               | {uid: rule_id, name: rule_id, type_id: 1 Rule}    |
| finding_info.related_events         | the judged event (`subject_event_id`, its type)   |
| risk_score                          | `risk_score` (session risk)                       |
| metadata.product                    | modeltrail, vendor modeltrail, `source`           |
| metadata.version                    | 1.3.0 (OCSF schema version)                       |
| metadata.correlation_uid            | `session_id`                                      |
| resources[0]                        | {type: "AI session", uid: session_id}             |
| evidences[].data                    | masked evidence excerpts (never raw prompt text)  |
| unmapped                            | mode, target, role, request_id, policy_version    |

A `SessionCommand` (kill/resume) is sent as JSON and Slack only; OCSF webhooks get findings.
"""

from __future__ import annotations

from typing import Any

from schemas.events import EventEnvelope, SessionCommand, Violation

__all__ = ["OCSF_VERSION", "to_json", "to_ocsf", "to_slack"]

OCSF_VERSION = "1.3.0"
_SEVERITY_ID = {"info": 1, "warning": 3, "high": 4, "critical": 5}
_SEVERITY_NAME = {1: "Informational", 3: "Medium", 4: "High", 5: "Critical"}
_EMOJI = {"info": ":information_source:", "warning": ":warning:", "high": ":rotating_light:"}


def to_json(event: EventEnvelope) -> dict[str, Any]:
    """The event itself, as it is on Kafka."""
    return event.model_dump(mode="json")


def _disposition(v: Violation) -> tuple[int, str]:
    if v.enforced and v.action in ("block", "kill"):
        return 2, "Blocked"
    return 17, "Logged"


def to_ocsf(v: Violation, product_version: str = "0.1.0") -> dict[str, Any]:
    """An OCSF Detection Finding (class 2004) for one violation (mapping in the module doc)."""
    severity_id = _SEVERITY_ID[v.severity]
    denied = v.enforced and v.action in ("block", "kill")
    disposition_id, disposition = _disposition(v)
    finding: dict[str, Any] = {
        "uid": v.event_id,
        "title": f"{v.rule_id}: {v.description}" if v.description else v.rule_id,
        "desc": v.description,
        "types": [v.owasp],
        "created_time": int(v.time.timestamp() * 1000),
        "analytic": {"uid": v.rule_id, "name": v.rule_id, "type_id": 1, "type": "Rule"},
    }
    if v.subject_event_id:
        finding["related_events"] = [
            {"uid": v.subject_event_id, "type": v.subject_event_type or ""}
        ]
    out: dict[str, Any] = {
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "time": int(v.time.timestamp() * 1000),
        "severity_id": severity_id,
        "severity": _SEVERITY_NAME[severity_id],
        "status_id": 1,
        "status": "New",
        "action_id": 2 if denied else 1,
        "action": "Denied" if denied else "Allowed",
        "disposition_id": disposition_id,
        "disposition": disposition,
        "message": v.description or v.rule_id,
        "finding_info": finding,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": v.event_id,
            "correlation_uid": v.session_id,
            "product": {
                "name": "modeltrail",
                "vendor_name": "modeltrail",
                "version": product_version,
                "feature": {"name": v.source},
            },
        },
        "resources": [{"type": "AI session", "uid": v.session_id}],
        "evidences": [
            {"data": {"field": e.field, "start": e.start, "end": e.end, "excerpt": e.excerpt}}
            for e in v.evidence
        ],
        "unmapped": {
            "mode": v.mode,
            "target": v.target,
            "role": v.role,
            "request_id": v.request_id,
            "policy_version": v.policy_version,
        },
    }
    if v.risk_score is not None:
        out["risk_score"] = round(v.risk_score)
    return out


def to_slack(event: EventEnvelope) -> dict[str, Any]:
    """Slack incoming-webhook blocks (with a plain `text` fallback)."""
    if isinstance(event, Violation):
        head = f"{_EMOJI.get(event.severity, ':red_circle:')} {event.severity.upper()} {event.rule_id} ({event.owasp})"
        fields = [
            f"*Session*\n`{event.session_id}`",
            f"*Action*\n{event.action}{'' if event.enforced else ' (audit)'}",
            f"*Target*\n{event.target}" + (f" / {event.role}" if event.role else ""),
            f"*Source*\n{event.source}",
        ]
        body = event.description or event.rule_id
    elif isinstance(event, SessionCommand):
        head = (
            f":no_entry: session {event.command}"
            if event.command == "kill"
            else (f":arrow_forward: session {event.command}")
        )
        until = event.expires_at.isoformat() if event.expires_at else event.block_mode or "-"
        fields = [
            f"*Session*\n`{event.session_id}`",
            f"*Rule*\n{event.rule_id or '-'}",
            f"*Until*\n{until}",
            f"*Issuer*\n{event.issuer}",
        ]
        body = event.reason or event.command
    else:
        return {"text": f"modeltrail {event.type} {event.session_id}"}
    return {
        "text": f"{head}: {body}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": head[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body[:2900]}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"event `{event.event_id}` at {event.time.isoformat()}",
                    }
                ],
            },
        ],
    }
