"""Which parts of a request a session has not had judged yet: a bounded memory per session.

Chat clients resend the whole conversation on every request. Judging all of it
each time costs time proportional to the conversation and re-reports an old
finding on every turn; judging only "the messages after the last assistant
turn" lets a trailing (even empty) assistant turn, a rewritten history or an
injection in an earlier tool result through unjudged. Instead each part is
keyed by a 64-bit BLAKE2b of (role, kind, content) and judged when its key is
new to the session:

- `JudgedParts.new_parts(messages)` gives the indices to judge and every key; a
  request that repeats the last judged one exactly is a new attempt, and its
  newest part is judged again (a retried attack still adds to the session's risk);
- `JudgedParts.remember(keys)` records them once the request was judged (the
  proxy only for a request it let through, so a blocked part stays blocked).

Judged means judged by one rule set: a memory belongs to a policy version and
starts empty when the version changes, so a reload re-judges everything once.

Bounds: at most `cap` keys per session (least recently seen dropped first), plus
a digest of the last judged request's key sequence, so an append-only
conversation longer than `cap` is not re-judged: its known prefix is skipped
whole. A dropped key can only cause one more judgement, never a skipped one.
Parts repeat across sessions too: an agent sends the same system prompt and tool
definitions in every session. `QuietParts` remembers, for all sessions of a process,
the keys of parts that gave no signal at all when judged (no pattern hit, no
smuggling sign, classifier under every threshold; `PolicyEngine.evaluate(quiet=...)`).
Skipping such a part is exact, not an approximation: it adds nothing to any finding,
whatever it is judged with. A part that matched anything, even below a rule's
threshold, is never in it.

Keys are 128-bit: finding two texts with one key (one benign to be remembered, one
attack to be skipped) takes about 2^64 work.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections import OrderedDict
from collections.abc import Sequence

from schemas.events import ChatMessage

__all__ = ["DEFAULT_PARTS_CAP", "JudgedParts", "QuietParts", "SessionPartsMemory", "part_key"]

#: Keys remembered per session by default.
DEFAULT_PARTS_CAP = 256
_KEY = 16


def part_key(m: ChatMessage) -> bytes:
    """The 16-byte identity of one part: who wrote it, what it is, what it says."""
    h = hashlib.blake2b(digest_size=_KEY)
    h.update(m.role.encode("utf-8", "surrogatepass"))
    h.update(b"\x00" + (m.kind or "").encode() + b"\x00")
    h.update(m.content.encode("utf-8", "surrogatepass"))
    return h.digest()


def _digest(keys: Sequence[bytes]) -> bytes:
    return hashlib.blake2b(b"".join(keys), digest_size=_KEY).digest()


class JudgedParts:
    """The parts one session has had judged (bounded; see the module docstring)."""

    __slots__ = ("_keys", "cap", "prefix_digest", "prefix_len", "version")

    def __init__(self, cap: int = DEFAULT_PARTS_CAP, version: str = "") -> None:
        if cap < 1:
            raise ValueError("cap must be at least 1")
        self.cap = cap
        self.version = version  # the policy version that judged these parts
        self._keys: OrderedDict[bytes, None] = OrderedDict()
        self.prefix_len = 0
        self.prefix_digest = b""

    def __len__(self) -> int:
        return len(self._keys)

    def copy(self) -> JudgedParts:
        """An independent copy (the worker's session states are copied per batch)."""
        other = JudgedParts(self.cap, self.version)
        other._keys = self._keys.copy()
        other.prefix_len = self.prefix_len
        other.prefix_digest = self.prefix_digest
        return other

    def new_parts(
        self, messages: Sequence[ChatMessage], keys: Sequence[bytes] | None = None
    ) -> tuple[tuple[int, ...], Sequence[bytes]]:
        """(indices of the parts with text never judged in this session, every part's key).

        `keys` are the parts' `part_key`s when the caller computed them already
        (off the event loop, for a large body).
        """
        if keys is None:
            keys = [part_key(m) for m in messages]
        start = 0
        n = self.prefix_len
        if n and len(keys) >= n and _digest(keys[:n]) == self.prefix_digest:
            start = n  # the conversation so far, unchanged: judged already
        known = self._keys
        fresh = tuple(
            i for i in range(start, len(keys)) if keys[i] not in known and messages[i].content
        )
        if not fresh and start == len(keys):
            # Nothing new at all: the same request again is a new attempt (a retry, a
            # repeated attack), so its newest part with text counts again.
            last = [i for i in range(len(keys)) if messages[i].content][-1:]
            fresh = tuple(last)
        return fresh, keys

    def remember(self, keys: Sequence[bytes]) -> None:
        """Record a judged request's keys (the newest `cap` of them) and its sequence."""
        known = self._keys
        for k in keys[-self.cap :]:
            if k in known:
                known.move_to_end(k)
            else:
                known[k] = None
        while len(known) > self.cap:
            known.popitem(last=False)
        self.prefix_len = len(keys)
        self.prefix_digest = _digest(keys) if keys else b""

    def dump(self) -> str:
        """A compact text form (for a JSON state record)."""
        head = f"{self.version}:{self.prefix_len}:{self.prefix_digest.hex()}:"
        return head + base64.b64encode(b"".join(self._keys)).decode()

    @classmethod
    def load(cls, text: str, version: str, cap: int = DEFAULT_PARTS_CAP) -> JudgedParts:
        """Read `dump` back for policy `version`; another version's or an unreadable
        memory gives an empty one (judge again)."""
        out = cls(cap, version)
        if not text:
            return out
        try:
            ver, n, digest, packed = text.split(":", 3)
            if ver != version:
                return out
            raw = base64.b64decode(packed, validate=True)
            out.prefix_len, out.prefix_digest = int(n), bytes.fromhex(digest)
        except (ValueError, binascii.Error):
            return cls(cap, version)
        for i in range(max(0, len(raw) - cap * _KEY), len(raw) - _KEY + 1, _KEY):
            out._keys[raw[i : i + _KEY]] = None
        return out


class SessionPartsMemory:
    """`JudgedParts` of many sessions, the least recently used dropped beyond `max_sessions`."""

    def __init__(self, max_sessions: int, cap: int = DEFAULT_PARTS_CAP) -> None:
        self.max_sessions = max_sessions
        self.cap = cap
        self._sessions: OrderedDict[str, JudgedParts] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def of(self, session_id: str, version: str) -> JudgedParts:
        """One session's memory under policy `version` (empty when unknown, dropped or stale)."""
        parts = self._sessions.get(session_id)
        if parts is None or parts.version != version:
            self._sessions.pop(session_id, None)
            parts = self._sessions[session_id] = JudgedParts(self.cap, version)
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        else:
            self._sessions.move_to_end(session_id)
        return parts


class QuietParts:
    """Keys of parts judged without any signal under one policy version, for every session.

    Bounded: at most `cap` keys, least recently seen dropped first (a dropped key costs
    one more judgement). A new policy version empties it. `cap=0` turns it off.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.version = ""
        self._keys: OrderedDict[bytes, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def _use(self, version: str) -> None:
        """Judged by another rule set: start empty."""
        if version != self.version:
            self._keys.clear()
            self.version = version

    def known(self, key: bytes, version: str) -> bool:
        """Whether `key` was judged quiet under `version` (another version empties the set)."""
        self._use(version)
        known = self._keys
        if key in known:
            known.move_to_end(key)
            return True
        return False

    def add(self, key: bytes, version: str) -> None:
        """Record one key judged quiet under `version` (the newest `cap` kept)."""
        if not self.cap or version != self.version:
            return
        known = self._keys
        known[key] = None
        if len(known) > self.cap:
            known.popitem(last=False)

    def skip(self, fresh: Sequence[int], keys: Sequence[bytes], version: str) -> tuple[int, ...]:
        """The indices of `fresh` still to judge under `version` (the quiet ones left out)."""
        self._use(version)
        known = self._keys
        if not known:
            return tuple(fresh)
        left = []
        for i in fresh:
            if keys[i] in known:
                known.move_to_end(keys[i])  # as `known` does
            else:
                left.append(i)
        return tuple(left)

    def remember(self, keys: Sequence[bytes], quiet: Sequence[int], version: str) -> None:
        """Record the parts at `quiet` (indices into `keys`) as judged quiet by `version`."""
        for i in quiet:
            self.add(keys[i], version)
