"""Entity spans from the policy detectors: typed values, labels kept, benign look-alikes ignored."""

from __future__ import annotations

import pytest

from streams.policy import load_policy
from streams.policy.entities import EntityFinder

FINDER = EntityFinder({"EMPLOYEE_ID": [r"\bEMP-\d{6}\b"]})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail jane.doe@example.org now", [("EMAIL", "jane.doe@example.org")]),
        ("call +44 20 7946 0958", [("PHONE", "+44 20 7946 0958")]),
        ("phone: 001-443-641-9254x12248", [("PHONE", "001-443-641-9254x12248")]),
        ("card 4539 1488 0343 6467", [("CARD", "4539 1488 0343 6467")]),
        ("card number 675924376543", [("CARD", "675924376543")]),
        ("ssn: 078-05-1121", [("SSN", "078-05-1121")]),
        ("IBAN GB82WEST12345698765432", [("IBAN", "GB82WEST12345698765432")]),
        ("from 10.20.30.40", [("IP", "10.20.30.40")]),
        ("date of birth: 1990-01-05", [("DOB", "1990-01-05")]),
        ("passport number X1234567", [("NATIONAL_ID", "X1234567")]),
        ("key AKIAIOSFODNN7QWERTY1", [("API_KEY", "AKIAIOSFODNN7QWERTY1")]),
        ("api_key=AbC9dEf8GhI7jKl6MnO5pQr4", [("SECRET", "AbC9dEf8GhI7jKl6MnO5pQr4")]),
        ('password: "Hunter2!xyz"', [("PASSWORD", "Hunter2!xyz")]),
        ("password: $a3zkOoOSBKkc(", [("PASSWORD", "$a3zkOoOSBKkc(")]),
        ("badge EMP-123456", [("EMPLOYEE_ID", "EMP-123456")]),
        ("caf\u00e9 bob@ex.example", [("EMAIL", "bob@ex.example")]),  # char offsets, not bytes
        # benign look-alikes: nothing to replace
        ("version 1.2.3.4 of the tool", []),
        ("id 123e4567-e89b-12d3-a456-426614174000", []),
        ("password=$DB_PASSWORD and password: ${PW}", []),
        ("the test card 4242 4242 4242 4242 from the stripe docs", []),
        ("meet at 10:30 on 2024-05-01", []),
    ],
)
def test_spans(text: str, expected: list[tuple[str, str]]) -> None:
    spans = FINDER.find(text)
    assert [(s.type, s.value) for s in spans] == expected
    assert all(text[s.start : s.end] == s.value for s in spans)


def test_bad_custom_type_name() -> None:
    with pytest.raises(ValueError, match="EMPLOYEE_ID"):
        EntityFinder({"employee id": ["x"]})


@pytest.mark.parametrize(
    ("text", "rules"),
    [
        ("deploy with \u27e6PRIVATE_KEY_1\u27e7 and \u27e6API_KEY_2\u27e7", ["SEC-011", "SEC-001"]),
        ("mail \u27e6EMAIL_1\u27e7 and \u27e6EMAIL_2\u27e7", ["PII-001"]),
        ("say \u27e6LITERAL_1\u27e7, EMAIL_1, [EMAIL_1]", []),  # client look-alikes, bare words
    ],
)
def test_transformed_text_is_still_judged_by_the_rules_that_found_it(
    text: str, rules: list[str]
) -> None:
    engine = load_policy("standard", [])
    assert [f.rule_id for f in engine.evaluate_text(text)] == rules


def test_every_value_is_found_however_many() -> None:
    text = " ".join(f"user{i}@corp.example" for i in range(500))
    assert len(FINDER.find(text)) == 500  # judging stops at a few hits; replacing must not


def test_a_long_text_without_entities_is_looked_up_not_rescanned() -> None:
    finder = EntityFinder(quiet_texts=2)
    prompt = "You are the billing team's assistant. Answer briefly and in UTC. " * 8
    assert finder.find(prompt) == [] and len(finder.quiet) == 1
    assert finder.find(prompt) == []
    # the same prompt with one value more is another text: scanned, found
    leaky = prompt + " Write to jane.doe@example.org."
    assert [s.type for s in finder.find(leaky)] == ["EMAIL"]
    assert [s.type for s in finder.find(leaky)] == ["EMAIL"]  # a text with a hit is never kept
    assert len(finder.quiet) == 1
    for i in range(5):  # bounded
        finder.find(prompt + f" variant {i}")
    assert len(finder.quiet) == 2
