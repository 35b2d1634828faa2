"""Server-side filtering, sorting and pagination of the sessions list.

The store answers "most recently seen first"; a paged call reads a bounded
window of that (`PAGE_WINDOW` sessions), then filters by model and key, sorts
and slices here. Beyond the window `capped` is set and `total` is a floor.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from proxy.enforcement.session_store import SessionInfo

__all__ = ["PAGE_WINDOW", "Order", "SortKey", "page_sessions"]

PAGE_WINDOW = 5000
SortKey = Literal[
    "last_seen",
    "first_seen",
    "session_id",
    "backend",
    "model",
    "requests",
    "errors",
    "total_tokens",
    "violations",
    "killed",
    "flagged",
]
Order = Literal["asc", "desc"]
_EPOCH = datetime.min.replace(tzinfo=UTC)


def _key(sort: SortKey, info: SessionInfo) -> tuple[bool, object]:
    value = getattr(info, sort)
    if value is None:  # missing values sort last whatever the order
        return (False, _EPOCH if sort in ("last_seen", "first_seen") else "")
    return (True, value)


def page_sessions(
    found: Sequence[SessionInfo],
    *,
    model: str | None = None,
    key: str | None = None,
    sort: SortKey = "last_seen",
    order: Order = "desc",
    offset: int = 0,
    limit: int = 100,
) -> tuple[int, list[SessionInfo]]:
    """(matches, one page) of `found` filtered by model and key fingerprint prefix."""
    matches = [
        s
        for s in found
        if (model is None or s.model == model)
        and (key is None or (s.api_key_fingerprint or "").startswith(key))
    ]
    present = [s for s in matches if _key(sort, s)[0]]
    missing = [s for s in matches if not _key(sort, s)[0]]
    present.sort(key=lambda s: _key(sort, s)[1], reverse=order == "desc")  # type: ignore[arg-type,return-value]
    ordered = present + missing
    return len(matches), ordered[offset : offset + limit]
