"""Object keys of the trail: `<prefix>/<table>/dt=YYYY-MM-DD/hour=HH/<topic>+<partition>+<first_offset:019d>.parquet`.

Pure. The key is a function of (table, topic, partition, first offset, hour of
the first event), so a replay of the same input writes the same key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["KeyParts", "object_key", "parse_key", "table_prefix"]

_KEY = re.compile(
    r"(?:(?P<prefix>.*)/)?(?P<table>[^/]+)/dt=(?P<dt>\d{4}-\d{2}-\d{2})/hour=(?P<hour>\d{2})/"
    r"(?P<topic>.+)\+(?P<partition>\d+)\+(?P<offset>\d{19})\.parquet$"
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


def table_prefix(prefix: str, table: str) -> str:
    """`<prefix>/<table>/` (no leading slash when the prefix is empty)."""
    prefix = prefix.strip("/")
    return f"{prefix}/{table}/" if prefix else f"{table}/"


def object_key(
    prefix: str, table: str, topic: str, partition: int, first_offset: int, first_time: datetime
) -> str:
    """The key of the file that starts at `first_offset`, dated by its first event's hour (UTC)."""
    if "/" in topic or "/" in table:
        raise ValueError("topic and table names must not contain '/'")
    when = first_time.astimezone(UTC)
    return (
        f"{table_prefix(prefix, table)}dt={when:%Y-%m-%d}/hour={when:%H}/"
        f"{topic}+{partition}+{first_offset:019d}.parquet"
    )


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
    )
