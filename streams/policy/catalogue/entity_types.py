"""The entity type each PII and secret rule finds: what the PII transform names a value.

`EMAIL`, `CARD`, `API_KEY`, ...: the type of a placeholder (`⟦EMAIL_1⟧`). Rules absent
here (bulk counts) replace nothing. The policy engine reads placeholders back through
this table, so a transformed request is still judged by the rules that found its values.
"""

from __future__ import annotations

__all__ = ["ENTITY_OF_RULE", "ENTITY_TYPES"]

# Entity type per catalogue rule; rules absent here (bulk counts) replace nothing.
ENTITY_OF_RULE: dict[str, str] = {
    "PII-001": "EMAIL", "PII-002": "PHONE", "PII-003": "SSN", "PII-004": "CARD",
    "PII-005": "IBAN", "PII-006": "IP", "PII-007": "IP", "PII-008": "DOB",
    "PII-009": "NATIONAL_ID",
    "SEC-001": "API_KEY", "SEC-002": "API_KEY", "SEC-003": "SECRET", "SEC-004": "TOKEN",
    "SEC-005": "TOKEN", "SEC-006": "TOKEN", "SEC-007": "API_KEY", "SEC-008": "API_KEY",
    "SEC-009": "API_KEY", "SEC-010": "TOKEN", "SEC-011": "PRIVATE_KEY", "SEC-012": "SECRET",
    "SEC-013": "SECRET", "SEC-014": "TOKEN", "SEC-015": "PASSWORD",
}  # fmt: skip
ENTITY_TYPES: tuple[str, ...] = tuple(dict.fromkeys(ENTITY_OF_RULE.values()))
