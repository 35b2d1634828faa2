"""Placeholders: their form, finding them (damaged ones too) and restoring values.

A placeholder is `⟦TYPE_N⟧` (U+27E6/U+27E7, mathematical white square brackets):
models copy them faithfully as one unit, and ordinary prose, code and JSON never
contain them. `Restorer` replaces the placeholders of one *scope* (the ones the
vault issued for this request) by their values; anything else that looks like a
placeholder, a client-sent look-alike included, is left as it is. Damaged forms
models commonly produce are restored too when they are unambiguous: another
case (`⟦email_1⟧`), square brackets (`[EMAIL_1]`), one or both brackets
dropped (`EMAIL_1`, as a whole word), and `\\u27e6`/`\\u27e7` escapes inside
JSON text (streamed tool-call arguments).

`TextChannel` is the streaming half: it restores text delta by delta and holds
back only a tail that could still be the start of a placeholder, at most one
placeholder's length, so the client is never delayed by more than that.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
import re2

__all__ = ["CLOSE", "MAX_PLACEHOLDER", "OPEN", "Restorer", "TextChannel", "placeholder"]

OPEN, CLOSE = "\u27e6", "\u27e7"
MAX_PLACEHOLDER = 40  # ⟦ + a 34-character type + _ + number + ⟧, bounded by the type rules
_OPEN_FORMS = rf"(?:{OPEN}|\\u27[eE]6|\[\[?)"
_CLOSE_FORMS = rf"(?:{CLOSE}|\\u27[eE]7|\]\]?)"
# TYPE_N after an opening form or at a word start, then an optional closing form.
_ANY = re2.compile(
    rf"(?:({_OPEN_FORMS})\s?|\b)([A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*?)_(\d{{1,6}})\b"
    rf"(?:\s?({_CLOSE_FORMS}))?"
)
_CORE_PREFIX = re2.compile(r"^[A-Za-z0-9_]*")
_LOOKALIKE = re2.compile(rf"{OPEN}[^{OPEN}{CLOSE}\s]{{1,{MAX_PLACEHOLDER}}}{CLOSE}")


def _plain(value: str) -> bool:
    """Whether `value` needs no escaping inside a JSON string (so at any nesting depth)."""
    return '"' not in value and "\\" not in value and all(ord(c) >= 0x20 for c in value)


def placeholder(kind: str, n: int) -> str:
    """The placeholder of the `n`-th value of type `kind` in a session."""
    return f"{OPEN}{kind}_{n}{CLOSE}"


def lookalikes(text: str) -> list[tuple[int, int]]:
    """Spans of strings in `text` that have a placeholder's form (client-sent look-alikes)."""
    if OPEN not in text:
        return []
    return [m.span() for m in _LOOKALIKE.finditer(text)]


class Restorer:
    """Restores the placeholders of one scope: `{"⟦EMAIL_1⟧": "a@b.c", ...}`."""

    def __init__(self, values: Mapping[str, str], *, audit_restored: bool = False) -> None:
        # Keyed by the upper-case TYPE_N core, which is what damaged forms agree on.
        self._by_core = {p[1:-1].upper(): v for p, v in values.items()}
        self._json: dict[str, str] = {}
        self.restored = 0
        # The audit events get the restored answer (`capture: raw`), not the backend's.
        self.audit_restored = audit_restored
        self.names = frozenset(self._by_core)
        self._needles = tuple({n.lower().encode() for n in self.names})
        # Exact placeholders whose value reads the same at any JSON string depth (no quote,
        # backslash or control character) and mentions no placeholder of the scope (a
        # client's look-alike, `LITERAL`): an answer holding only these needs no parse.
        self._exact: list[tuple[bytes, bytes]] = []
        # The same in JSON written ASCII-only (`\u27e6EMAIL_1\u27e7`, either hex case).
        self._escaped: list[tuple[bytes, bytes]] = []
        for p, v in values.items():
            value = v.encode()
            if _plain(v) and not self.mentioned_in(value):
                self._exact.append((p.encode(), value))
                for o, c in (("27e6", "27e7"), ("27E6", "27E7")):
                    self._escaped.append((f"\\u{o}{p[1:-1]}\\u{c}".encode(), value))

    def __bool__(self) -> bool:
        return bool(self._by_core)

    def mentioned_in(self, data: bytes) -> bool:
        """Whether `data` may hold a placeholder of this scope (any case, any bracket form)."""
        lowered = data.lower()
        return any(n in lowered for n in self._needles)

    def replace_exact(self, data: bytes) -> bytes | None:
        """`data` with its exact placeholders replaced, or None when that is not enough.

        None: a damaged form, an escaped bracket after a backslash, a value that needs
        JSON escaping or one that itself mentions a placeholder is left, so the caller
        restores the original `data` the thorough way (never this partly restored copy).
        """
        out = data
        n = 0
        forms = self._exact
        # An escaped form right after a backslash is literal text, not a bracket: left
        # to the thorough path.
        if b"\\u27" in data and b"\\\\u27" not in data:
            forms = forms + self._escaped
        for ph, value in forms:
            if ph in out:
                n += out.count(ph)
                out = out.replace(ph, value)
        if self.mentioned_in(out):
            return None
        self.restored += n
        return out

    def _value(self, core: str, json_text: bool) -> str | None:
        value = self._by_core.get(core)
        if value is None or not json_text:
            return value
        escaped = self._json.get(core)
        if escaped is None:
            escaped = self._json[core] = orjson.dumps(value).decode()[1:-1]
        return escaped

    def restore(self, text: str, *, json_text: bool = False) -> str:
        """`text` with this scope's placeholders (damaged ones too) replaced by their values.

        `json_text`: the text is the inside of a JSON string (streamed tool-call
        arguments), so values are inserted JSON-escaped.
        """
        if not self._by_core or "_" not in text:
            return text  # every form of a placeholder has TYPE_N
        out: list[str] = []
        last = 0
        for m in _ANY.finditer(text):
            kind, number = m.group(2), m.group(3)
            bracketed = m.group(1) is not None or m.group(4) is not None
            if not bracketed and not kind.isupper():
                continue  # a bare lower-case `ip_1` is a variable name, not a placeholder
            value = self._value(f"{kind.upper()}_{number}", json_text)
            if value is None:
                continue
            start, end = m.span()
            out.append(text[last:start])
            out.append(value)
            last = end
            self.restored += 1
        if last == 0:
            return text
        out.append(text[last:])
        return "".join(out)

    def pending(self, text: str) -> int:
        """How many trailing characters of `text` could still grow into a placeholder."""
        if not self._by_core or not text:
            return 0
        for i in range(max(0, len(text) - MAX_PLACEHOLDER), len(text)):
            ch = text[i]
            if ch in (OPEN, "[", "\\"):
                pass
            elif not ch.isalnum() or (i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")):
                continue
            if self._could_start(text[i:]):
                return len(text) - i
        return 0

    def _could_start(self, tail: str) -> bool:
        """Whether `tail` is the start of some form of an in-scope placeholder."""
        rest = tail
        opened = False
        if rest[0] == OPEN:
            rest, opened = rest[1:], True
        elif rest[0] == "[":
            rest, opened = rest[2:] if rest.startswith("[[") else rest[1:], True
        elif rest[0] == "\\":
            lowered = rest[:6].lower()
            if len(rest) < 6:
                return "\\u27e6".startswith(lowered)
            if lowered != "\\u27e6":
                return False
            rest, opened = rest[6:], True
        if opened and rest[:1] == " ":
            rest = rest[1:]
        core = _CORE_PREFIX.match(rest).group()  # type: ignore[union-attr]
        after = rest[len(core) :]
        upper = core.upper()
        if after:
            # A complete TYPE_N whose escaped closing bracket is cut: `EMAIL_1\\u27`.
            after = after.removeprefix(" ").lower()
            return bool(after) and "\\u27e7".startswith(after) and upper in self.names
        if not core:
            return opened
        return any(name.startswith(upper) for name in self.names)


class TextChannel:
    """One streamed text (a message's content, one tool call's arguments)."""

    __slots__ = ("_held", "_json", "_restorer")

    def __init__(self, restorer: Restorer, *, json_text: bool = False) -> None:
        self._restorer = restorer
        self._json = json_text
        self._held = ""

    def feed(self, delta: str) -> str:
        """Restored text that can go to the client now; a possible placeholder start is held."""
        text = self._held + delta if self._held else delta
        keep = self._restorer.pending(text)
        ready, self._held = (text[:-keep], text[-keep:]) if keep else (text, "")
        return self._restorer.restore(ready, json_text=self._json)

    def flush(self) -> str:
        """Whatever is held, restored: the stream's text ended."""
        held, self._held = self._held, ""
        return self._restorer.restore(held, json_text=self._json)

    @property
    def holding(self) -> bool:
        """Whether text is held back."""
        return bool(self._held)
