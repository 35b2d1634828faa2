"""Personal data in prompts and outputs (LLM02), each shape cut down by a validator.

Cards pass Luhn (published test numbers next to docs/test wording do not
count), IBANs pass mod-97 with the country's length, SSNs follow area/group
rules, phone numbers need international or separated structure, dates of birth
and passport numbers need their context word.
"""

from __future__ import annotations

from streams.policy.catalogue._build import rule
from streams.policy.rules import ALL_TARGETS, OUTPUT_TARGETS

__all__ = ["RULES"]

_T = ALL_TARGETS - {"session"}
_EXT = r"(?:\s?(?:x|ext\.?)\s?\d{1,5})?"
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"

RULES = (
    rule("PII-001", "Email address", "LLM02", "warning", "flag", _T, "pii", mask="pii",
         patterns=[r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b"]),
    rule("PII-002", "Phone number (international or grouped national format)", "LLM02", "warning", "flag", _T, "pii",
         mask="pii", validator="phone", yields_to=("PII-003", "PII-004", "PII-005", "PII-006", "PII-008"),
         patterns=[r"\+\d{1,3}(?:[\s.-]?\(0\))?(?:[\s.-]?\(?\d{1,5}\)?){1,6}" + _EXT,
                   r"\(\d{1,5}\)[\s.-]?\d{2,8}(?:[\s.-]?\d{2,8}){0,3}" + _EXT,
                   r"\d{2,5}(?:[\s.-]\d{2,8}){1,4}" + _EXT,
                   r"(?i)\b(?:phone|tel|telephone|mobile|mob|fax|desk|call|cell|whatsapp|sms|registered)\b\W{1,20}\d{7,12}\b",
                   r"(?i)\d{10,11}\W?(?:fax|office|off|mobile|home|cell)\b"]),
    rule("PII-003", "US Social Security number", "LLM02", "high", "flag", _T, "pii", mask="pii", validator="ssn",
         patterns=[r"\b\d{3}-\d{2}-\d{4}\b", r"\b\d{3} \d{2} \d{4}\b",
                   r"(?i)\b(?:ssn|social\W+security(?:\W+number)?)\W{0,3}(?:\w+\W+){0,2}?\d{9}\b"]),
    rule("PII-004", "Payment card number (Luhn-valid)", "LLM02", "high", "flag", _T, "pii", mask="pii", validator="luhn",
         patterns=[r"\b\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{1,7}\b", r"\b\d{4}[ -]?\d{6}[ -]?\d{4,5}\b",
                   r"(?i)\b(?:card|cc|visa|mastercard|maestro|amex|debit|credit)\b\W+(?:\w+\W+){0,3}?\d{12}\b"]),
    rule("PII-005", "IBAN (mod-97 valid)", "LLM02", "high", "flag", _T, "pii", mask="pii", validator="iban",
         patterns=[r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"]),
    rule("PII-006", "IP address", "LLM02", "info", "flag", _T, "pii", mask="pii", validator="ipv4",
         patterns=[r"\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b"]),
    rule("PII-007", "IPv6 address", "LLM02", "info", "flag", _T, "pii", mask="pii", validator="ipv6",
         patterns=[r"\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b", r"\b(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}:){0,5}[0-9A-Fa-f]{1,4}\b"]),
    rule("PII-008", "Date of birth (a date next to birth wording)", "LLM02", "warning", "flag", _T, "pii", mask="pii",
         patterns=[r"(?i)\b(?:date\W+of\W+birth|d\.?o\.?b\.?|born(?:\W+on)?|birth\W?date|birthday)\W{0,3}(?:\w+\W+){0,2}?"
                   r"(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{2}-\d{2}|" + _MONTH + r"\s\d{1,2},?\s\d{4}|\d{1,2}\s" + _MONTH + r"\s\d{4})"]),
    rule("PII-009", "Passport or national id number next to its label", "LLM02", "warning", "flag", _T, "pii", mask="pii",
         patterns=[r"(?i)\b(?:passport|passeport|reisepass|pasaporte|national\W+id|id\W+card)\W+(?:\w+\W+){0,3}?[A-Z]{0,2}\d{6,9}\b"]),
    rule("PII-010", "Bulk personal data: many email addresses in one output", "LLM02", "high", "block", OUTPUT_TARGETS, "pii",
         mask="pii", threshold=20,
         patterns=[r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b"]),
)  # fmt: skip
