"""Validators that cut pattern false positives: checksums and structure, pure functions.

Each validator takes the matched bytes and the whole view (bytes) with the
match span, and says whether the match is real. Registered by name in
`VALIDATORS` so YAML and the catalogue refer to them as strings.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from collections.abc import Callable

import re2

__all__ = ["TEST_CARDS", "VALIDATORS", "Validator", "entropy", "iban_ok", "luhn_ok"]

Validator = Callable[[bytes, bytes, int, int], bool]

# Published test numbers of card networks and payment providers.
TEST_CARDS = frozenset(
    {
        "4242424242424242", "4000056655665556", "5555555555554444", "2223003122003222",
        "5200828282828210", "5105105105105100", "378282246310005", "371449635398431",
        "6011111111111117", "6011000990139424", "3056930009020004", "36227206271667",
        "3566002020360505", "6200000000000005", "4111111111111111", "4012888888881881",
        "4222222222222", "5454545454545454", "4000000000000002", "4000000000009995",
    }
)  # fmt: skip
_DOCS_CONTEXT = re2.compile(
    rb"(?i)\b(?:test(?:ing)?|sandbox|example|sample|dummy|fake|docs?|documentation|stripe|demo)\b"
)
_UUID = re2.compile(rb"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_HEXONLY = re2.compile(rb"^[0-9a-fA-F]+$")
_DIGITS = re2.compile(rb"\d")
_IBAN_LEN = {
    "AD": 24, "AE": 23, "AT": 20, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21,
    "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IL": 23,
    "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) checksum of a digit string."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    """IBAN length per country and the ISO 7064 mod-97 check."""
    s = iban.replace(" ", "").upper()
    if _IBAN_LEN.get(s[:2]) != len(s):
        return False
    moved = s[4:] + s[:4]
    num = "".join(str(int(c, 36)) for c in moved)
    return int(num) % 97 == 1


def entropy(s: bytes) -> float:
    """Shannon entropy in bits per symbol."""
    if not s:
        return 0.0
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


_NOT_DIGITS = bytes(c for c in range(256) if not 48 <= c <= 57)


def _digits(m: bytes) -> str:
    return m.translate(None, _NOT_DIGITS).decode()


def _near(view: bytes, start: int, end: int, width: int = 80) -> bytes:
    return view[max(0, start - width) : end + width]


def _card(m: bytes, view: bytes, start: int, end: int) -> bool:
    d = _digits(m)
    if not 12 <= len(d) <= 19 or not luhn_ok(d) or len(set(d)) < 2:
        return False
    if d in TEST_CARDS and _DOCS_CONTEXT.search(_near(view, start, end)):
        return False
    return True


def _ssn(m: bytes, view: bytes, start: int, end: int) -> bool:
    d = _digits(m)
    if len(d) != 9:
        return False
    area, group, serial = d[:3], d[3:5], d[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return d not in ("123456789", "078051120", "219099999")


def _iban(m: bytes, view: bytes, start: int, end: int) -> bool:
    return iban_ok(m.decode())


_DATE_LIKE = re2.compile(rb"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})$")
_SSN_SHAPE = re2.compile(rb"^\d{3}-\d{2}-\d{4}$")
_YEARS = re2.compile(rb"^(?:19|20)\d\d[\s-](?:19|20)\d\d$")
_STREET_AFTER = re2.compile(
    rb"(?i)^\s+(?:(?:rue|via|calle|avenida|avda\.?|rua|travessa|boulevard|ul\.|al\.|the corner)\b"
    rb"|(?:[\w'.-]+\s+){0,3}?(?:street|st|road|rd|avenue|ave|lane|ln|drive|dr|boulevard|blvd|way|court"
    rb"|ct|place|pl|square|sq|crescent|cres|terrace|highway|hwy|parkway|pkwy|row|alley|circle|close)\b)"
)
_NUMERIC_EDGE = b"0123456789:./_"
_UNIT_BEFORE = re2.compile(rb"(?i)\b(?:apt|apartment|suite|unit|flat|no|box)\.?\s*$")


def _inside_number(view: bytes, start: int, end: int) -> bool:
    """Whether the match continues a longer number, decimal, time or version on either side."""
    before = view[start - 1 : start] if start > 0 else b""
    after = view[end : end + 2]
    if before and (before in _NUMERIC_EDGE or before == b"+"):
        return True
    if before == b"," and start > 1 and view[start - 2 : start - 1].isdigit():
        return True
    if after[:1] == b":" or (after[:1] and after[:1].isdigit()):
        return True
    return after[:1] in b".," and after[1:2].isdigit()


_EXTENSION = re2.compile(rb"(?i)\s?(?:x|ext\.?)\s?\d{1,5}$")


def _phone(m: bytes, view: bytes, start: int, end: int) -> bool:
    # `x12248` is the extension, not the number (every extension form has an x)
    d = _digits(_EXTENSION.sub(b"", m) if b"x" in m or b"X" in m else m)
    if not 7 <= len(d) <= 15 or len(set(d)) < 3:
        return False
    s = m.strip()
    if _DATE_LIKE.match(s) or _YEARS.match(s) or _UUID.match(s) or _SSN_SHAPE.match(s):
        return False
    if _inside_number(view, start, end):
        return False
    if _UNIT_BEFORE.search(view[max(0, start - 12) : start]):
        return False
    # A number followed by a street name is a house number, not a phone number.
    return _STREET_AFTER.match(view[end : end + 60]) is None


_VERSION_BEFORE = re2.compile(rb"(?i)(?:\bv|\bversion|\bver|\brelease|\bbuild|\brev)\W{0,3}$")


def _ipv4(m: bytes, view: bytes, start: int, end: int) -> bool:
    if _inside_number(view, start, end) or _VERSION_BEFORE.search(view[max(0, start - 12) : start]):
        return False
    if all(len(part) == 1 for part in m.split(b".")):
        return False  # 1.2.3.4 reads as a version number
    try:
        ip = ipaddress.ip_address(m.decode())
    except ValueError:
        return False
    # Version strings (1.2.3.4) and loopback/unspecified are not personal data.
    return not (ip.is_loopback or ip.is_unspecified or m.startswith(b"0."))


def _ipv6(m: bytes, view: bytes, start: int, end: int) -> bool:
    try:
        ip = ipaddress.ip_address(m.decode())
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_unspecified)


def _high_entropy(m: bytes, view: bytes, start: int, end: int) -> bool:
    token = m.split(b"=", 1)[-1].split(b":", 1)[-1].strip(b" \"'`")
    if len(token) < 16 or _UUID.match(token):
        return False
    if _HEXONLY.match(token) and len(token) in (32, 40, 64):
        threshold = 3.0  # hex digests and hex keys carry at most 4 bits a symbol
    else:
        threshold = 3.5
    has_digit = any(48 <= b <= 57 for b in token)
    lowered = token.lower()
    placeholder = any(
        w in lowered for w in (b"xxxx", b"your", b"example", b"placeholder", b"redacted")
    )
    return has_digit and not placeholder and entropy(token) >= threshold


_PLACEHOLDERS = (b"xxxx", b"your", b"example", b"placeholder", b"redacted", b"changeme", b"****")
# Template references, not values: `$DB_PASSWORD`, `${PW}`, `<password>`, `{{ pw }}`, `%(pw)s`.
_TEMPLATE = re2.compile(rb"^(?:\$[A-Za-z_][A-Za-z0-9_]*|\$\{.*|<[^>]*>?|\{.*\}?|%\(.*)$")


def _password(m: bytes, view: bytes, start: int, end: int) -> bool:
    value = m.split(b"=", 1)[-1] if b"=" in m else m.split(b":", 1)[-1]
    value = value.lstrip(b">").strip(b" \"'")
    if len(value) < 8 or any(p in value.lower() for p in _PLACEHOLDERS):
        return False
    if _TEMPLATE.match(value) or b"${" in value or b"{{" in value:
        return False
    classes = sum(
        (
            any(97 <= b <= 122 for b in value),
            any(65 <= b <= 90 for b in value),
            any(48 <= b <= 57 for b in value),
            any(not chr(b).isalnum() for b in value),
        )
    )
    return classes >= 2


def _not_uuid(m: bytes, view: bytes, start: int, end: int) -> bool:
    return not _UUID.match(m)


VALIDATORS: dict[str, Validator] = {
    "luhn": _card,
    "ssn": _ssn,
    "iban": _iban,
    "phone": _phone,
    "ipv4": _ipv4,
    "ipv6": _ipv6,
    "high_entropy": _high_entropy,
    "not_uuid": _not_uuid,
    "password": _password,
}
