"""Placeholders: which forms are restored, which never are, and streaming hold-back."""

from __future__ import annotations

import random

import pytest

from proxy.pii.placeholders import MAX_PLACEHOLDER, Restorer, TextChannel, lookalikes, placeholder

SCOPE = {placeholder("EMAIL", 1): "a@b.example", placeholder("IP", 1): "10.0.0.1",
         placeholder("EMPLOYEE_ID", 2): "EMP-000002", placeholder("PASSWORD", 1): 'p"w\\x'}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("to \u27e6EMAIL_1\u27e7.", "to a@b.example."),
        ("to \u27e6email_1\u27e7.", "to a@b.example."),  # case damaged, bracketed
        ("to [EMAIL_1].", "to a@b.example."),
        ("to [[EMAIL_1]].", "to a@b.example."),
        ("to EMAIL_1.", "to a@b.example."),  # both brackets dropped
        ("to \u27e6EMAIL_1 now", "to a@b.example now"),
        ("to EMAIL_1\u27e7 now", "to a@b.example now"),
        ("id \u27e6EMPLOYEE_ID_2\u27e7", "id EMP-000002"),
        # never restored: not in scope, a longer number, a lower-case bare word (code)
        ("to \u27e6EMAIL_2\u27e7", "to \u27e6EMAIL_2\u27e7"),
        ("to EMAIL_10 and XEMAIL_1", "to EMAIL_10 and XEMAIL_1"),
        ("ip_1 = socket()", "ip_1 = socket()"),
        ("\u27e6PHONE_1\u27e7", "\u27e6PHONE_1\u27e7"),
    ],
)
def test_restore_forms(text: str, expected: str) -> None:
    assert Restorer(SCOPE).restore(text) == expected


def test_json_text_escapes_values_and_reads_escaped_brackets() -> None:
    text = '{"pw": "\\u27e6PASSWORD_1\\u27e7"}'
    assert Restorer(SCOPE).restore(text, json_text=True) == '{"pw": "p\\"w\\\\x"}'


def test_empty_scope_changes_nothing() -> None:
    assert Restorer({}).restore("\u27e6EMAIL_1\u27e7") == "\u27e6EMAIL_1\u27e7"


def test_lookalikes_are_found() -> None:
    assert lookalikes("a \u27e6EMAIL_1\u27e7 b \u27e6x y\u27e7") == [(2, 11)]


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("json_text", [False, True])
def test_any_split_restores_like_the_whole(seed: int, json_text: bool) -> None:
    rng = random.Random(seed)
    if json_text:
        text = '{"to": "\\u27e6EMAIL_1\\u27e7", "ip": "\\u27e6IP_1\\u27e7", "n": "EMAIL_1"}'
    else:
        text = "Mail \u27e6EMAIL_1\u27e7 from \u27e6IP_1\u27e7; [EMAIL_1] EMAIL_1 \u27e6EMAIL_9\u27e7 EMAIL_1"
    restorer = Restorer(SCOPE)
    expected = restorer.restore(text, json_text=json_text)
    cuts = sorted(rng.sample(range(1, len(text)), rng.randint(1, len(text) // 2)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    channel = TextChannel(restorer, json_text=json_text)
    out = []
    for piece in pieces:
        out.append(channel.feed(piece))
        assert len(channel._held) <= MAX_PLACEHOLDER  # never more than one placeholder held
    out.append(channel.flush())
    assert "".join(out) == expected


def test_plain_text_is_not_held_back() -> None:
    channel = TextChannel(Restorer(SCOPE))
    assert channel.feed("hello world. ") == "hello world. "
    assert channel.feed("see \u27e6EM") == "see "
    assert channel.holding
