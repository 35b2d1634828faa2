"""The classifier's view of a text: folded words, cut into bounded chunks.

Shared by training and run time so both see exactly the same bytes. A text is
lower-cased, leetspeak-folded (0→o, 1→i, 3→e, 4→a, 5→s, 7→t, @→a, $→s),
punctuation becomes spaces, and a space pads each end. Runs of spaces are kept:
collapsing them cost more than the rest of scoring, so a feature's words match
across any run instead (`pattern`). Features are word n-grams (" ignore all ")
and word stems (" instr"), so one RE2 set pass finds all of them. Long texts are
cut into chunks of at most `CHUNK` bytes that overlap by `CHUNK - STRIDE`, each
scored on its own, so a payload after a long benign document or many decoy runs
is not diluted. A chunk's length is a feature too (`size`, about its word count):
the model gives it a small negative weight, so a long run of ordinary words that
each weakly point to an attack ("ignore", "previous", "system") does not add up
to a finding.
"""

from __future__ import annotations

import re2

__all__ = [
    "CHUNK",
    "STOPWORDS",
    "STRIDE",
    "TEXT_VERSION",
    "candidates",
    "chunks",
    "fold",
    "pattern",
    "size",
]

# 256 bytes of overlap: any sentence that short is whole in some chunk. Larger chunks than
# the first model (768/512) mean fewer RE2 calls and fewer bytes scanned twice.
CHUNK = 1024
STRIDE = 768
STEM = 5
# What a model artifact records of this view; a model trained on another is refused.
TEXT_VERSION = 3


def _table() -> bytes:
    t = bytearray(range(256))
    for c in range(256):
        if c < 0x80 and not chr(c).isalnum():
            t[c] = ord(" ")
        elif ord("A") <= c <= ord("Z"):
            t[c] = c + 32
    for a, b in zip("013457@$", "oieastas", strict=True):
        t[ord(a)] = ord(b)
    return bytes(t)


_FOLD = _table()


def fold(text: str) -> bytes:
    """Lower-cased, leet-folded words separated by spaces (runs kept), padded with spaces."""
    data = (text if text.isascii() else text.lower()).encode("utf-8", "replace")
    return b" " + data.translate(_FOLD) + b" "


def chunks(folded: bytes) -> list[bytes]:
    """Overlapping chunks of at most `CHUNK` bytes, cut at spaces (each keeps its padding)."""
    n = len(folded)
    if n <= CHUNK:
        return [folded]
    out: list[bytes] = []
    start = 0
    while True:
        end = min(n, start + CHUNK)
        if end < n:
            cut = folded.rfind(b" ", start + 1, end)
            end = cut + 1 if cut > start else end
        out.append(folded[start:end])
        if end >= n:
            return out
        nxt = folded.rfind(b" ", start + 1, start + STRIDE + 1)
        start = nxt if nxt > start else start + STRIDE


def size(chunk: bytes) -> int:
    """What a chunk's length feature counts: its spaces, about its number of words (a
    punctuation mark adds one; counting the words themselves costs a split)."""
    return chunk.count(b" ")


def pattern(feature: str) -> bytes:
    """The RE2 pattern that finds `feature` in folded text: its words, any run of spaces
    between them (" your  system prompt " holds " your system prompt ")."""
    body = b" +".join(re2.escape(w.encode()) for w in feature.split())
    return b" " + body + (b" " if feature.endswith(" ") else b"")


# English function words are never features on their own (only inside a 2- or 3-gram: " your
# system prompt "): alone they are in every request, and the weights they picked up from
# attack templates ("your", "what", "were") added up to a finding on short questions such as
# "What are your business hours?".
STOPWORDS = frozenset(
    b"a an the to of and or in on at for with is are was were be been am i you your yours me my"
    b" we our it its this that these those what which who how do does did can could would"
    b" should will shall please there here as by from so if then than not no all any some every"
    b" each just very also about into out up"
    # what is left of a contraction once its apostrophe is a space: "it's", "I'm", "don't"
    b" s m t d ll re ve don isn".split()
)


def candidates(chunk: bytes) -> set[bytes]:
    """Every feature present in a chunk: word 1-3 grams and 5-byte word stems (training).

    A function word (`STOPWORDS`) is a feature only inside a 2- or 3-gram.
    """
    words = chunk.split()
    out: set[bytes] = set()
    for i, w in enumerate(words):
        if w not in STOPWORDS:
            out.add(b" " + w + b" ")
            if len(w) >= STEM:
                out.add(b" " + w[:STEM])
        if i >= 1:
            out.add(b" " + words[i - 1] + b" " + w + b" ")
        if i >= 2:
            out.add(b" " + words[i - 2] + b" " + words[i - 1] + b" " + w + b" ")
    return out
