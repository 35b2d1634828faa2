"""Secrets and PII rules with their validators; evidence is always masked."""

from __future__ import annotations

import pytest

from streams.policy import PolicyEngine
from streams.policy.validators import iban_ok, luhn_ok

AWS = "AKIA" + "IOSFODNN7ABCDEFG"  # split so secret scanners of this repo do not trip
GH = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
OPENAI = "sk-proj-" + "Ab3" * 20 + "T3BlbkFJ" + "Xy9" * 20
ANTHROPIC = "sk-ant-api03-" + "Zq8_" * 24
STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
SLACK = "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
GITLAB = "glpat-" + "xT3kP9qL2mN8vB4wZ6yR"
JWT = (
    "eyJhbGciOiJIUzI1NiJ9."
    + "eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)


def _ids(engine: PolicyEngine, text: str, target: str = "request", role: str = "user") -> set[str]:
    return {f.rule_id for f in engine.evaluate_text(text, role=role, target=target)}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        (f"export AWS_ACCESS_KEY_ID={AWS}", "SEC-001"),
        ("maps key AIza" + "SyD3xA9kLmN0pQ7rS2tU5vW8xY1zB4cE6fG", "SEC-002"),
        (
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + "Q" * 86 + "==",
            "SEC-003",
        ),
        (f"token {GH}", "SEC-004"),
        (f"use {GITLAB}", "SEC-005"),
        (f"SLACK={SLACK}", "SEC-006"),
        (f"stripe {STRIPE}", "SEC-007"),
        (f"OPENAI_API_KEY={OPENAI}", "SEC-008"),
        (f"key={ANTHROPIC}", "SEC-009"),
        (f"Authorization: Bearer {JWT}", "SEC-010"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n", "SEC-011"),
        ("DATABASE_URL=postgresql://app:S3cr3tPassw0rd@db:5432/prod", "SEC-012"),
        ('config = {"api_key": "q8Zr2LmX4vT9kP1sW7nB3yH6"}', "SEC-013"),
        ("password=Tr0ub4dor&3xyz", "SEC-015"),
    ],
)
def test_secrets_fire(standard: PolicyEngine, text: str, rule: str) -> None:
    assert rule in _ids(standard, text)


@pytest.mark.parametrize(
    "text",
    [
        "request id 123e4567-e89b-12d3-a456-426614174000 failed",
        "api_key = 123e4567-e89b-12d3-a456-426614174000",
        "api_key=YOUR_API_KEY_HERE_XXXXXXXX",
        "password: <your password>",
        "token = ${GITHUB_TOKEN}",
        "commit 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
        "see https://docs.example.com/api/keys for how to create one",
    ],
)
def test_secret_lookalikes_do_not_fire(standard: PolicyEngine, text: str) -> None:
    assert not {r for r in _ids(standard, text) if r.startswith("SEC-")}


def test_secret_evidence_is_masked(standard: PolicyEngine) -> None:
    findings = standard.evaluate_text(
        f"my key is {GH}, keep it safe", target="response", role="assistant"
    )
    f = next(f for f in findings if f.rule_id == "SEC-004")
    assert GH not in f.evidence[0].excerpt
    assert GH[8:20] not in f.evidence[0].excerpt
    assert f.evidence[0].excerpt.startswith("ghp_")


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("Mail me at jane.doe@example.org", "PII-001"),
        ("Call +44 20 7946 0958 tomorrow", "PII-002"),
        ("my number is (415) 555-2671", "PII-002"),
        ("SSN: 123-45-6780", "PII-003"),
        ("charge card 4539 1488 0343 6467 please", "PII-004"),
        ("wire to GB82 WEST 1234 5698 7654 32 today", "PII-005"),
        ("server at 203.0.113.77 is down", "PII-006"),
        ("Date of birth: 1984-03-12", "PII-008"),
        ("passport number X12345678", "PII-009"),
    ],
)
def test_pii_fires(standard: PolicyEngine, text: str, rule: str) -> None:
    assert rule in _ids(standard, text)


@pytest.mark.parametrize(
    "text",
    [
        "Use the Stripe test card 4242 4242 4242 4242 in the sandbox docs.",
        "In testing, 4111 1111 1111 1111 is the example Visa number.",
        "SSN: 000-12-3456",  # area 000 is never issued
        "SSN: 666-12-3456",
        "version 1.2.3.4 released on 2024-05-01",
        "meet at 2021-01-03 14:42:17 in room 12",
        "trace 123e4567-e89b-12d3-a456-426614174000",
        "I was born in a small town and moved on 2004-06-01.",
        "She lives at 1601 1024 Union Lane, Durban",
    ],
)
def test_pii_lookalikes_do_not_fire(standard: PolicyEngine, text: str) -> None:
    assert not {r for r in _ids(standard, text) if r.startswith("PII-")}


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("charge card 4539 1488 0343 6468 please", "PII-004"),  # fails Luhn
        ("wire to GB82 WEST 1234 5698 7654 33 today", "PII-005"),  # fails mod-97
        ("SSN 987-65-4320", "PII-003"),  # area 9xx is never issued
    ],
)
def test_validators_cut_false_positives(standard: PolicyEngine, text: str, rule: str) -> None:
    assert rule not in _ids(standard, text)


def test_phone_yields_to_card_and_ssn(standard: PolicyEngine) -> None:
    ids = _ids(standard, "SSN 123-45-6780 and card 4539-1488-0343-6467")
    assert {"PII-003", "PII-004"} <= ids and "PII-002" not in ids


def test_pii_evidence_keeps_only_the_tail(standard: PolicyEngine) -> None:
    f = next(
        f for f in standard.evaluate_text("card 4539 1488 0343 6467") if f.rule_id == "PII-004"
    )
    assert f.evidence[0].excerpt.endswith("67") and "4539" not in f.evidence[0].excerpt


def test_validators() -> None:
    assert luhn_ok("4539148803436467") and not luhn_ok("4539148803436468")
    assert iban_ok("GB82WEST12345698765432") and iban_ok("DE89 3704 0044 0532 0130 00")
    assert not iban_ok("GB82WEST12345698765433") and not iban_ok("XX82WEST12345698765432")


def test_bulk_email_threshold(strict: PolicyEngine) -> None:
    many = " ".join(f"user{i}@corp.example.com" for i in range(25))
    few = " ".join(f"user{i}@corp.example.com" for i in range(5))
    assert "PII-010" in _ids(strict, many, "response", "assistant")
    assert "PII-010" not in _ids(strict, few, "response", "assistant")
