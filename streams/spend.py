"""Spend per key, team, user, model and session, per UTC day, in a faust table.

Each response event the worker applies (a replay is skipped before it gets
here, by the session state's offsets) adds its cost (USD), input and output
tokens and one request to a row per dimension of its day:
`<day>|<dimension>|<source partition>|<id>` -> JSON totals. A row is only ever
written by the worker that owns its source partition, and its changelog record
goes to that same partition (faust recovers a table partition together with the
source partition), so several workers never overwrite each other's totals; a
reader sums the partitions (`fold_rows`).

Bounded (DESIGN: bounded state): rows older than `days` are deleted (changelog
tombstones) by `sweep`, and each (day, dimension, partition) holds at most
`max_ids` ids; spend of ids past the cap goes to the row `OTHER`, so a flood of
new session ids or model names cannot grow the table, its changelog or a
recovery without bound.

Delivery: rows reach the table at `flush`, called with the session store's
flush before every offset commit: spend and the session offsets that stop a
replay from counting twice are written together.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

import orjson

from schemas.events import LLMResponse

__all__ = [
    "DIMENSIONS",
    "OTHER",
    "Dimension",
    "SpendBook",
    "SpendRow",
    "fold_rows",
    "parse_key",
    "row_key",
]

Dimension = Literal["key", "team", "user", "model", "session"]
DIMENSIONS: tuple[Dimension, ...] = ("key", "team", "user", "model", "session")
#: The id that collects the spend of ids past `max_ids` in one day.
OTHER = "(other)"


class ChangelogWriter(Protocol):
    """What the book needs of the faust table: its store and explicit changelog writes."""

    @property
    def data(self) -> MutableMapping[bytes, bytes]: ...

    def send_changelog(self, partition: int | None, key: bytes, value: bytes | None) -> object: ...


@dataclass(slots=True)
class SpendRow:
    """Totals of one id on one day."""

    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    unpriced: int = 0  # responses whose model has no price (cost null)

    def add(self, event: LLMResponse) -> None:
        self.requests += 1
        self.input_tokens += event.input_tokens or 0
        self.output_tokens += event.output_tokens or 0
        if event.cost_usd is None:
            self.unpriced += 1
        else:
            self.cost_usd += event.cost_usd

    def merge(self, other: SpendRow) -> None:
        self.cost_usd += other.cost_usd
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.requests += other.requests
        self.unpriced += other.unpriced

    def to_bytes(self) -> bytes:
        out = {
            "cost_usd": round(self.cost_usd, 9),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "requests": self.requests,
            "unpriced": self.unpriced,
        }
        return orjson.dumps(out)

    @classmethod
    def from_bytes(cls, raw: bytes) -> SpendRow:
        data = orjson.loads(raw)
        return cls(
            cost_usd=float(data.get("cost_usd", 0.0)),
            input_tokens=int(data.get("input_tokens", 0)),
            output_tokens=int(data.get("output_tokens", 0)),
            requests=int(data.get("requests", 0)),
            unpriced=int(data.get("unpriced", 0)),
        )


def row_key(day: str, dimension: Dimension, partition: int, ident: str) -> bytes:
    return f"{day}|{dimension}|{partition}|{ident}".encode()


def parse_key(key: bytes) -> tuple[str, str, int, str] | None:
    """(day, dimension, partition, id) of a row key; None for anything else."""
    parts = key.decode(errors="replace").split("|", 3)
    if len(parts) != 4 or parts[1] not in DIMENSIONS or not parts[2].isdigit():
        return None
    return parts[0], parts[1], int(parts[2]), parts[3]


def _ids(event: LLMResponse) -> Iterator[tuple[Dimension, str]]:
    yield "model", event.model or "(unknown)"
    yield "session", event.session_id
    for dimension, ident in (("key", event.key_id), ("team", event.team), ("user", event.user)):
        if ident:
            yield dimension, ident  # type: ignore[misc]


def _day(when: datetime) -> str:
    return when.astimezone(UTC).date().isoformat()  # YYYY-MM-DD; a fifth of strftime's cost


class SpendBook:
    """Spend rows in front of the changelog-backed table (write-behind, bounded)."""

    def __init__(self, table: ChangelogWriter, *, days: int = 8, max_ids: int = 10_000) -> None:
        self._table = table
        self._days = days
        self._max_ids = max_ids
        self._rows: dict[bytes, SpendRow] = {}
        self._dirty: set[bytes] = set()
        # ids held per (day, dimension, partition): built from the table on first use
        self._held: dict[tuple[str, str, int], set[str]] | None = None
        self._swept_day: str | None = None

    def add(self, spent: Iterable[tuple[int, LLMResponse]]) -> None:
        """Count responses (source partition, event) whose outputs are acknowledged."""
        held = self._index()
        for partition, event in spent:
            day = _day(event.time)
            for dimension, ident in _ids(event):
                ids = held.setdefault((day, dimension, partition), set())
                if ident not in ids:
                    if len(ids) >= self._max_ids:
                        ident = OTHER
                    ids.add(ident)
                key = row_key(day, dimension, partition, ident)
                row = self._rows.get(key)
                if row is None:
                    raw = self._table.data.get(key)
                    row = SpendRow() if raw is None else SpendRow.from_bytes(raw)
                    self._rows[key] = row
                row.add(event)
                self._dirty.add(key)

    def flush(self) -> int:
        """Write changed rows to the table and its changelog; returns how many."""
        dirty, self._dirty = self._dirty, set()
        for key in dirty:
            value = self._rows[key].to_bytes()
            parsed = parse_key(key)
            assert parsed is not None  # the book only makes well-formed keys
            self._table.data[key] = value
            self._table.send_changelog(parsed[2], key, value)
        self._rows.clear()  # the table holds them now; reload on demand
        return len(dirty)

    def sweep(self, now: datetime) -> int:
        """Delete rows of days older than the window (once per day); returns how many."""
        today = _day(now)
        if self._swept_day == today:
            return 0
        self.flush()
        oldest = _day(now - timedelta(days=self._days - 1))
        gone = 0
        for key in list(self._table.data.keys()):
            parsed = parse_key(key)
            if parsed is None or parsed[0] >= oldest:
                continue
            del self._table.data[key]
            self._table.send_changelog(parsed[2], key, None)
            gone += 1
        if self._held is not None:
            self._held = {k: v for k, v in self._held.items() if k[0] >= oldest}
        self._swept_day = today
        return gone

    def reset(self) -> None:
        """Flush and forget the id index (after a rebalance the table is the truth)."""
        self.flush()
        self._held = None
        self._swept_day = None

    def _index(self) -> dict[tuple[str, str, int], set[str]]:
        if self._held is None:
            held: dict[tuple[str, str, int], set[str]] = {}
            for key in self._table.data.keys():
                parsed = parse_key(key)
                if parsed is not None:
                    held.setdefault(parsed[:3], set()).add(parsed[3])
            self._held = held
        return self._held

    @property
    def pending(self) -> int:
        return len(self._dirty)


def fold_rows(
    rows: Iterable[tuple[bytes, bytes | None]],
    dimension: Dimension,
    *,
    since_day: str,
) -> dict[str, SpendRow]:
    """Latest value of each changelog key (tombstones drop it), summed per id over the
    partitions and days from `since_day` on. `rows` in log order."""
    latest: dict[bytes, bytes] = {}
    for key, value in rows:
        if value is None:
            latest.pop(key, None)
        else:
            latest[key] = value
    out: dict[str, SpendRow] = {}
    for key, value in latest.items():
        parsed = parse_key(key)
        if parsed is None or parsed[1] != dimension or parsed[0] < since_day:
            continue
        out.setdefault(parsed[3], SpendRow()).merge(SpendRow.from_bytes(value))
    return out
