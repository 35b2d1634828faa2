"""Text normalisation and decoding: one pass per event, before any rule runs.

`views(text, field)` returns the texts rules scan: the normalised text (NFKC,
invisible and bidi/control characters stripped, homoglyphs folded), each
encoded payload in it decoded once (base64, base32, hex, hex bytes, binary, ascii85,
Morse, decimal character codes, octal, URL, quoted-printable, HTML entity and backslash
escapes, Unicode tag characters, Braille), the text without the combining marks stacked
on its letters ("zalgo"), and, for short texts, cheap rewrites an attacker uses to dodge a
scanner (rot13, rot47, atbash, leetspeak, reversed, turned upside down, letters spaced or
dotted apart). Small capitals, boxed letters and regional indicators fold to letters like
homoglyphs. Spans in findings refer to the view's text.

Every pattern is RE2 (linear time); decoding is bounded in runs and bytes.
"""

# ruff: noqa: RUF001  (the homoglyph table is made of look-alike characters on purpose)
from __future__ import annotations

import base64
import binascii
import codecs
import html
import quopri
import string
import unicodedata
import urllib.parse
from dataclasses import dataclass
from typing import Literal

import re2

__all__ = ["Signals", "View", "ViewKind", "normalize", "views"]

ViewKind = Literal["plain", "decoded", "transform"]

MAX_DECODED_RUNS = 16  # decoded views per text (one per encoding and nesting level)
MAX_DECODED_CHARS = 65_536
MAX_RUN_ATTEMPTS = 512  # encoded runs tried per encoding and level
MAX_DECODE_DEPTH = 3  # base64 inside hex inside base64 ...
MAX_TRANSFORM_CHARS = 4_096
_PRINTABLE_RATIO = 0.85

_INVISIBLE = [
    *(0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0),
    *range(0x200B, 0x2010),
    *range(0x2028, 0x202F),
    *range(0x2060, 0x2070),
    *range(0xFE00, 0xFE10),
    *range(0xE0000, 0xE0080),
]
_CONTROLS = [c for c in range(0x20) if c not in (9, 10, 13)] + list(range(0x7F, 0xA0))

_HOMOGLYPHS = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d",
    "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ь": "b",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
    "С": "C", "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J", "Ԁ": "D",
    # Greek
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "γ": "y",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
    "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Latin look-alikes and typographic punctuation
    "ı": "i", "ȷ": "j", "ɡ": "g", "ℓ": "l", "‘": "'", "’": "'", "“": '"', "”": '"',
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "−": "-",
    # Small capitals, as "fancy text" generators write them (NFKC leaves them be)
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ɢ": "g", "ʜ": "h", "ɪ": "i",
    "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s",
    "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
}  # fmt: skip
_TABLE: dict[int, int | str | None] = {c: None for c in _INVISIBLE + _CONTROLS}
_TABLE.update({ord(k): v for k, v in _HOMOGLYPHS.items()})
# Letters in boxes and flags: negative circled and squared letters, regional indicators
for _first in (0x1F150, 0x1F170, 0x1F1E6):
    _TABLE.update({_first + i: c for i, c in enumerate(string.ascii_uppercase)})
# Text turned upside down: read backwards, each letter turned back (a rewrite, like rot13)
_TURNED = str.maketrans("ɐqɔpǝɟƃɥᴉɾʞɯudbɹʇnʌʍʎ", "abcdefghijkmnpqrtuvwy")
_ATBASH = str.maketrans(
    string.ascii_lowercase + string.ascii_uppercase,
    string.ascii_lowercase[::-1] + string.ascii_uppercase[::-1],
)
_ROT47 = {c: 33 + (c - 33 + 47) % 94 for c in range(33, 127)}
_ASCII_CTRL = bytes(c for c in _CONTROLS if c < 0x80)
# CSI (colours, cursor moves), OSC (titles, links) and two-byte escape sequences
_ANSI = re2.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]{0,512}(?:\x07|\x1b\\)|[@-Z\\-_])")
_TAGS = re2.compile("[\U000e0020-\U000e007e]+")
_BIDI = frozenset(list(range(0x202A, 0x202F)) + list(range(0x2066, 0x206A)) + [0x200E, 0x200F])

_B64 = re2.compile(rb"[A-Za-z0-9+/_-]{16,}={0,2}")
_B32 = re2.compile(rb"[A-Z2-7]{16,}={0,6}")
_HEX = re2.compile(rb"(?:0x)?[0-9A-Fa-f]{16,}")
_BIN = re2.compile(rb"(?:[01]{8} ?){4,}")
_A85 = re2.compile(rb"<~[!-u\s]{10,}~>")
_MORSE = re2.compile(rb"(?:[.-]{1,7}(?: / | {1,3}|/)){8,}[.-]{1,7}")
_CODES = re2.compile(
    rb"(?:\b(?:3[2-9]|[4-9][0-9]|1[01][0-9]|12[0-6])\b[ ,;]{1,3}){8,}(?:3[2-9]|[4-9][0-9]|1[01][0-9]|12[0-6])\b"
)
_HEX_BYTES = re2.compile(rb"(?:\b(?:0x)?[0-9A-Fa-f]{2}[ ,:]{1,2}){7,}(?:0x)?[0-9A-Fa-f]{2}\b")
_OCTAL = re2.compile(rb"(?:\\[0-3][0-7]{2}){6,}")
_ENTITY = re2.compile(rb"&#(?:[0-9]{2,7}|[xX][0-9A-Fa-f]{2,6});")
_PCT = re2.compile(rb"%[0-9A-Fa-f]{2}")
_QP = re2.compile(rb"(?:=[0-9A-F]{2}){4,}")
_UESC = re2.compile(rb"\\u[0-9A-Fa-f]{4}|\\x[0-9A-Fa-f]{2}")
_SPACED = re2.compile(r"(?:\b[A-Za-z] ){3,}[A-Za-z]\b")
_DOTTED = re2.compile(r"(?:\b[A-Za-z][.\-_*|+~]){2,}[A-Za-z]\b")
_DOTS = str.maketrans("", "", ".-_*|+~")
# Combining marks an attacker stacks on letters ("zalgo"): six letters in a row carrying
# them, once decomposed. Scripts that need marks (Devanagari, Arabic, Hebrew) have their
# own, and NFKC composes the accents of Latin text: a Latin mark left after it is stacked.
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_ZALGO = re2.compile(f"(?:[A-Za-z][{_MARKS}]+[^A-Za-z]?){{6,}}")
_MARK_RUN = re2.compile(f"[{_MARKS}]+")
_BRAILLE = re2.compile("[\u2801-\u28ff](?:[\u2800-\u28ff ]*[\u2801-\u28ff]){7,}")
# Grade-1 Braille letters (the cell's dot pattern is the code point's low byte)
_BRAILLE_LETTERS = dict(
    zip(
        (0x01, 0x03, 0x09, 0x19, 0x11, 0x0B, 0x1B, 0x13, 0x0A, 0x1A, 0x05, 0x07, 0x0D,
         0x1D, 0x15, 0x0F, 0x1F, 0x17, 0x0E, 0x1E, 0x25, 0x27, 0x3A, 0x2D, 0x3D, 0x35),
        string.ascii_lowercase,
        strict=True,
    )
)  # fmt: skip
_LEET = str.maketrans("013457@$", "oieastas")


@dataclass(frozen=True, slots=True)
class Signals:
    """What normalisation removed: evidence of smuggling on its own."""

    tag_chars: int = 0
    invisible_chars: int = 0
    bidi_chars: int = 0
    hidden_text: str = ""

    def any(self) -> bool:
        """Whether normalisation stripped or found anything at all."""
        return bool(self.tag_chars or self.invisible_chars or self.bidi_chars or self.hidden_text)


@dataclass(frozen=True, slots=True)
class View:
    """One text to scan: `data` is `text` in UTF-8 (what RE2 reads)."""

    field: str
    text: str
    data: bytes
    kind: ViewKind


def normalize(text: str) -> tuple[str, Signals]:
    """Return the normalised text and what was stripped from it.

    Terminal escape sequences (colours in test runs, `git diff --color`, progress bars) are
    removed but not counted as hidden: a coding agent's tool results are full of them.
    """
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    if text.isascii():
        # Deleting the control bytes is a C loop over the text: several times faster than
        # a regex search for them, and ordinary text has none.
        data = text.encode()
        if len(data.translate(None, _ASCII_CTRL)) == len(data):
            return text, Signals()
        cleaned = text.translate(_TABLE)
        return cleaned, Signals(invisible_chars=len(text) - len(cleaned))
    hidden = "".join(chr(ord(c) - 0xE0000) for m in _TAGS.finditer(text) for c in m.group())
    tags = sum(1 for c in text if 0xE0000 <= ord(c) <= 0xE007F) if hidden else 0
    bidi = sum(1 for c in text if ord(c) in _BIDI)
    composed = unicodedata.normalize("NFKC", text)
    folded = composed.translate(_TABLE)
    # What the table deleted, not what NFKC composed or expanded: text typed in NFD (macOS
    # file names, some keyboards) has an accent per letter and hides nothing.
    invisible = len(composed) - len(folded) - tags
    return folded, Signals(tags, invisible, bidi, hidden)


def _readable(raw: bytes) -> str | None:
    """Decoded bytes as text if they read like text, else None."""
    try:
        s = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(s) < 4:
        return None
    printable = sum(1 for c in s if c.isprintable() or c in "\n\t\r")
    if printable / len(s) < _PRINTABLE_RATIO or not any(c.isalpha() for c in s):
        return None
    letters = sum(1 for c in s if c.isalpha() or c == " ")
    return s if letters / len(s) >= 0.6 else None


def _b64(run: bytes) -> bytes | None:
    run = run.rstrip(b"=")
    try:
        if b"-" in run or b"_" in run:
            return base64.urlsafe_b64decode(run + b"=" * (-len(run) % 4))
        return base64.b64decode(run + b"=" * (-len(run) % 4))
    except (binascii.Error, ValueError):
        return None


def _b32(run: bytes) -> bytes | None:
    run = run.rstrip(b"=")
    try:
        return base64.b32decode(run + b"=" * (-len(run) % 8))
    except (binascii.Error, ValueError):
        return None


def _hex(run: bytes) -> bytes | None:
    run = run[2:] if run[:2] == b"0x" else run
    run = run[: len(run) - len(run) % 2]
    try:
        return bytes.fromhex(run.decode())
    except ValueError:
        return None


def _a85(run: bytes) -> bytes | None:
    try:
        return base64.a85decode(run, adobe=True, ignorechars=b" \t\n\r")
    except ValueError:
        return None


_MORSE_CODE = {
    ".-": "a", "-...": "b", "-.-.": "c", "-..": "d", ".": "e", "..-.": "f", "--.": "g", "....": "h",
    "..": "i", ".---": "j", "-.-": "k", ".-..": "l", "--": "m", "-.": "n", "---": "o", ".--.": "p",
    "--.-": "q", ".-.": "r", "...": "s", "-": "t", "..-": "u", "...-": "v", ".--": "w", "-..-": "x",
    "-.--": "y", "--..": "z", "-----": "0", ".----": "1", "..---": "2", "...--": "3", "....-": "4",
    ".....": "5", "-....": "6", "--...": "7", "---..": "8", "----.": "9",
}  # fmt: skip


def _morse(run: bytes) -> bytes | None:
    words = run.decode().replace("/", " / ").split(" / ")
    text = " ".join("".join(_MORSE_CODE.get(c, "") for c in w.split()) for w in words)
    return text.encode()


def _bin(run: bytes) -> bytes | None:
    bits = run.replace(b" ", b"")
    return bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits) - 7, 8))


def _hex_bytes(run: bytes) -> bytes | None:
    return _hex(run.replace(b"0x", b"").translate(None, b" ,:"))


def _octal(run: bytes) -> bytes | None:
    return bytes(int(o, 8) for o in run.split(b"\\")[1:])


def _codes(run: bytes) -> bytes | None:
    return bytes(int(n) for n in run.replace(b",", b" ").replace(b";", b" ").split())


_DECODERS = (
    ("base64", _B64, _b64),
    ("base32", _B32, _b32),
    ("hex", _HEX, _hex),
    ("binary", _BIN, _bin),
    ("ascii85", _A85, _a85),
    ("morse", _MORSE, _morse),
    ("charcodes", _CODES, _codes),
    ("hexbytes", _HEX_BYTES, _hex_bytes),
    ("octal", _OCTAL, _octal),
)


def _encoded_set() -> re2.Set:
    s = re2.Set.SearchSet()
    for _, pattern, _ in _DECODERS:
        s.Add(pattern.pattern)
    s.Add(_PCT.pattern)
    s.Add(_UESC.pattern)
    s.Add(_QP.pattern)
    s.Add(_ENTITY.pattern)
    s.Compile()
    return s


_ENCODED = _encoded_set()


def _decoded(data: bytes, budget: int) -> list[tuple[str, str]]:
    """Readable decodings of the encoded runs in `data`, one joined text per encoding.

    Runs of one encoding are decoded together (duplicates once), so a payload after many
    decoy runs is still read; at most `MAX_RUN_ATTEMPTS` runs per encoding are tried and
    at most `budget` characters kept.
    """
    out: list[tuple[str, str]] = []
    present = set(_ENCODED.Match(data) or ())
    if not present:
        return out
    for i, (name, pattern, decode) in enumerate(_DECODERS):
        if i not in present or budget <= 0:
            continue
        seen: set[bytes] = set()
        texts: list[str] = []
        for n, m in enumerate(pattern.finditer(data)):
            if n >= MAX_RUN_ATTEMPTS or budget <= 0:
                break
            run = m.group()
            if run in seen:
                continue
            seen.add(run)
            raw = decode(run)
            text = _readable(raw) if raw else None
            if text:
                texts.append(text[:budget])
                budget -= len(text)
        if texts:
            out.append((name, "\n".join(texts)))
    if len(_DECODERS) in present and len(_PCT.findall(data)) >= 3:
        out.append(("url", urllib.parse.unquote(data.decode("utf-8", "replace"))[: max(0, budget)]))
    if len(_DECODERS) + 1 in present and len(_UESC.findall(data)) >= 4:
        # Only the escapes are decoded; other text passes through (latin-1 keeps bytes as-is).
        raw = data[: max(0, budget) * 4].replace(b"\\\\", b"\\")
        try:
            out.append(("escape", raw.decode("unicode_escape", "replace")))
        except (UnicodeError, ValueError):
            pass
    if len(_DECODERS) + 2 in present:
        qp = _readable(quopri.decodestring(data[: max(0, budget) * 3]))
        if qp:
            out.append(("quoted-printable", qp))
    if len(_DECODERS) + 3 in present and len(_ENTITY.findall(data)) >= 4:
        text = html.unescape(data[: max(0, budget) * 8].decode("utf-8", "replace"))
        out.append(("html-entities", text))
    return out


def _nested(data: bytes) -> list[tuple[str, str]]:
    """Decodings of `data`, then of what they decode to, down to `MAX_DECODE_DEPTH` levels."""
    out: list[tuple[str, str]] = []
    budget = max(MAX_DECODED_CHARS, len(data))
    frontier: list[tuple[str, bytes]] = [("", data)]
    for _ in range(MAX_DECODE_DEPTH):
        nxt: list[tuple[str, bytes]] = []
        for prefix, blob in frontier:
            for name, text in _decoded(blob, budget):
                budget -= len(text)
                label = f"{prefix}>{name}" if prefix else name
                out.append((label, text))
                nxt.append((label, text.encode()))
                if len(out) >= MAX_DECODED_RUNS or budget <= 0:
                    return out
        frontier = nxt
        if not frontier:
            break
    return out


def _hints() -> re2.Set:
    s = re2.Set.SearchSet()
    for p in _HINTS:
        s.Add(p)
    s.Compile()
    return s


# Cheap signs that a rewrite is worth scanning: common English words as they read after
# rot13 or reversal, digits inside words (leetspeak), runs of single spaced letters. A digit
# between letters counts only beside a letter that is not a hex digit: hex ids in logs and
# hashes ("7f3a", "e5b9") are everywhere and are not leetspeak, and a leet word ("1gn0r3",
# "pr0mpt", "s3cr3t") has a letter past "f" next to a digit.
_HINTS = (
    rb"(?i)\b(?:gur|naq|lbh|guvf|jvgu|vtaber|cebzcg)\b",
    rb"(?i)\b(?:eht|dna|uoy|siht|htiw|erongi|tpmorp)\b",
    rb"(?i)[g-z][0134578@$][a-z]|[a-z][0134578@$][g-z]|\b[0134578][g-z][a-z]|\b[0134578][a-z][g-z]",
    rb"(?:\b[A-Za-z] ){3,}[A-Za-z]\b",
    rb"(?:\b[A-Za-z][.\-_*|+~]){3,}[A-Za-z]\b",
    "(?:ɐ|ǝ|ɥ|ɹ|ʇ|ʎ|ʍ|ɯ|ᴉ|ʞ|ƃ|ɟ)".encode(),
    rb"(?i)\b(?:gsv|zmw|blf|gsrh|drgs|rtmliv|kilnkg)\b",  # atbash: the, and, you, ignore...
    rb"(?:^|\s)(?:E96|2\?5|J@F|E9:D|H:E9|:8?@C6|AC@>AE)(?:\s|$)",  # rot47: the, and, you...
)
_HINT_SET = _hints()


def _transforms(text: str, data: bytes) -> list[tuple[str, str]]:
    hints = _HINT_SET.Match(data)
    if not hints:
        return []
    out: list[tuple[str, str]] = []
    if 0 in hints:
        out.append(("rot13", codecs.encode(text, "rot13")))
    if 1 in hints:
        out.append(("reversed", text[::-1]))
    if 2 in hints:
        out.append(("leet", text.lower().translate(_LEET)))
    if 3 in hints:
        out.append(("despaced", _SPACED.sub(lambda m: m.group().replace(" ", ""), text)))
    if 4 in hints:
        out.append(("undotted", _DOTTED.sub(lambda m: m.group().translate(_DOTS), text)))
    if 5 in hints:
        out.append(("turned", text[::-1].translate(_TURNED)))
    if 6 in hints:
        out.append(("atbash", text.translate(_ATBASH)))
    if 7 in hints:
        out.append(("rot47", text.translate(_ROT47)))
    return out


def _braille(run: str) -> str:
    out: list[str] = []
    capital = False
    for c in run:
        dots = ord(c) - 0x2800
        if c == " " or dots == 0:
            out.append(" ")
        elif dots == 0x20:  # capital sign
            capital = True
            continue
        else:
            letter = _BRAILLE_LETTERS.get(dots, "")
            out.append(letter.upper() if capital else letter)
        capital = False
    return "".join(out)


def _unscripted(norm: str) -> list[tuple[str, str]]:
    """Letters hidden in Braille cells, or under combining marks stacked on them."""
    out: list[tuple[str, str]] = []
    runs = [_braille(m.group()) for m in _BRAILLE.finditer(norm[:MAX_DECODED_CHARS])]
    if runs:
        out.append(("braille", "\n".join(runs)))
    if _MARK_RUN.search(norm):
        bare = unicodedata.normalize("NFD", norm)
        if _ZALGO.search(bare):
            out.append(("unmarked", _MARK_RUN.sub("", bare)))
    return out


def views(text: str, field: str, *, transforms: bool = True) -> tuple[list[View], Signals]:
    """All views of `text` rules scan, plus the smuggling signals normalisation saw."""
    norm, signals = normalize(text)
    data = norm.encode()
    out = [View(field, norm, data, "plain")]
    if signals.hidden_text:
        hidden = signals.hidden_text
        out.append(View(f"{field}#unicode-tags", hidden, hidden.encode(), "decoded"))
    if len(data) != len(norm):  # not ASCII: the scripts an attacker hides letters in
        for name, unhidden in _unscripted(norm):
            out.append(View(f"{field}#{name}", unhidden, unhidden.encode(), "decoded"))
    for name, decoded in _nested(data):
        dn, _ = normalize(decoded)
        out.append(View(f"{field}#{name}", dn, dn.encode(), "decoded"))
    if transforms and len(norm) <= MAX_TRANSFORM_CHARS:
        # One view for all rewrites: one scan instead of four, rewrites kept on separate lines.
        rewrites = _transforms(norm, data)
        if rewrites:
            joined = "\n\n".join(t for _, t in rewrites)
            out.append(View(f"{field}#rewritten", joined, joined.encode(), "transform"))
    return out, signals
