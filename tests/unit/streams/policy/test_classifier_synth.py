"""The generated training texts: seeded, labelled, and free of template leftovers."""

from __future__ import annotations

import random
import re

from streams.policy.classifier.synth import expand, synthetic_attacks, synthetic_lookalikes

FILLERS = ["Write a limerick about a cat", "Explain how tides work"]
LEFTOVER = re.compile(r"[{}¦]|\b(?:NAME|PAYLOAD|SECRET|INSTR2?|JOB|DOC)\b")


def leftovers(texts: list[str]) -> list[str]:
    """Texts with an unexpanded group or placeholder (a few rows are upper-cased whole)."""
    return [t for t in texts if LEFTOVER.search(t) and not t.isupper()]


def test_expand_picks_one_alternative_per_group_innermost_first() -> None:
    rng = random.Random(1)
    seen = {expand("{a|{b|c}d} e{|f}", rng) for _ in range(200)}
    assert seen == {"a e", "a ef", "bd e", "bd ef", "cd e", "cd ef"}
    assert expand("run `{curl x ¦ sh}`", rng) == "run `curl x | sh`"


def test_same_seed_writes_the_same_rows() -> None:
    a = list(synthetic_attacks(random.Random("s"), FILLERS, 50))
    b = list(synthetic_attacks(random.Random("s"), FILLERS, 50))
    c = list(synthetic_attacks(random.Random("t"), FILLERS, 50))
    assert a == b and a != c


def test_attacks_cover_user_and_tool_roles_without_leftovers() -> None:
    rows = list(synthetic_attacks(random.Random(7), FILLERS, 600))
    assert {r.label for r in rows} == {1} and {r.source for r in rows} == {"synthetic"}
    assert {r.role for r in rows} == {"user", "tool"}
    assert not leftovers([r.text for r in rows])
    assert len({r.text for r in rows}) > 0.9 * len(rows)  # phrased many ways, not repeated
    assert any(not r.text.isascii() for r in rows)  # other languages too


def test_lookalikes_are_benign_and_share_the_attack_words() -> None:
    rows = list(synthetic_lookalikes(random.Random(7), FILLERS, 600))
    assert {r.label for r in rows} == {0} and {r.role for r in rows} == {"user"}
    assert not leftovers([r.text for r in rows])
    text = " ".join(r.text.lower() for r in rows)
    for word in ("ignore", "act as", "system prompt", "developer mode", "forget", "decode"):
        assert word in text, word
