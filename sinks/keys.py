"""Object keys of the trail:
`<prefix>/<table>/dt=YYYY-MM-DD/hour=HH/<topic>+<partition>+<first_offset:019d>+<tag>.parquet`.

Pure. The key is a function of (table, topic, partition, first offset, hour of
the first event, first event's id), so a replay of the same input writes the
same key. `<tag>` (a hash of the file's first event id) tells topic incarnations
apart: a broker that lost its topics, a recreated topic or a new cluster starts
offsets at 0 again, but never with the same event, so a new incarnation never
gets the key of an old file. (Tansu's metadata carries no topic id, so the
event is the one incarnation mark every broker gives.) Keys written before the
tag existed (no `+<tag>`) still parse and stay readable.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["KeyParts", "conflict_key", "incarnation_tag", "object_key", "parse_key", "table_prefix"]

_KEY = re.compile(
    r"(?:(?P<prefix>.*)/)?(?P<table>[^/]+)/dt=(?P<dt>\d{4}-\d{2}-\d{2})/hour=(?P<hour>\d{2})/"
    r"(?P<topic>.+)\+(?P<partition>\d+)\+(?P<offset>\d{19})(?:\+(?P<tag>[0-9a-f]{16}))?"
    r"(?:~(?P<conflict>[0-9a-f]{12}))?\.parquet$"
)


@dataclass(frozen=True, slots=True)
class KeyParts:
    """What a key says about its file."""

    prefix: str
    table: str
    dt: str
    hour: int
    topic: str
    partition: int
    first_offset: int
    tag: str = ""
    conflict: str = ""


def incarnation_tag(first_event_id: str) -> str:
    """16 hex digits naming the incarnation a file belongs to, from its first event's id."""
    return hashlib.sha256(first_event_id.encode()).hexdigest()[:16]


def table_prefix(prefix: str, table: str) -> str:
    """`<prefix>/<table>/` (no leading slash when the prefix is empty)."""
    prefix = prefix.strip("/")
    return f"{prefix}/{table}/" if prefix else f"{table}/"


def object_key(
    prefix: str,
    table: str,
    topic: str,
    partition: int,
    first_offset: int,
    first_time: datetime,
    tag: str = "",
) -> str:
    """The key of the file that starts at `first_offset`, dated by its first event's hour (UTC).

    `tag` is `incarnation_tag(first event id)`; empty only for the legacy layout.
    """
    if "/" in topic or "/" in table:
        raise ValueError("topic and table names must not contain '/'")
    when = first_time.astimezone(UTC)
    return (
        f"{table_prefix(prefix, table)}dt={when:%Y-%m-%d}/hour={when:%H}/"
        f"{topic}+{partition}+{first_offset:019d}{'+' + tag if tag else ''}.parquet"
    )


def conflict_key(key: str, digest: str) -> str:
    """Where a file goes when its key holds different content that must not be replaced."""
    return f"{key.removesuffix('.parquet')}~{digest[:12]}.parquet"


def parse_key(key: str) -> KeyParts:
    """Split a key made by `object_key`; raises ValueError on anything else."""
    m = _KEY.fullmatch(key)
    if m is None:
        raise ValueError(f"not a trail key: {key!r}")
    return KeyParts(
        prefix=m["prefix"] or "",
        table=m["table"],
        dt=m["dt"],
        hour=int(m["hour"]),
        topic=m["topic"],
        partition=int(m["partition"]),
        first_offset=int(m["offset"]),
        tag=m["tag"] or "",
        conflict=m["conflict"] or "",
    )
