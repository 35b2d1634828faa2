"""Compare-before-overwrite: put a closed file under its key; never replace, never lose.

A key names (table, topic, partition, first offset, first event), so two files
under one key hold the same incarnation's records from the same first offset;
they can only differ in where they end. That happens legitimately when a sink
died after writing a file but before committing it, and its replay cut the file
elsewhere (the idle flush is time-driven); and illegitimately when a fenced-out
sink (paused past its session, cut off from the broker) uploads late over the
new owner's file. A stored object is never replaced:

* absent: write it (write-if-absent, so a racing writer cannot be replaced);
* same bytes, or the stored file covers the same or a longer offset range:
  keep it and write nothing (every record of the new file is in it);
* the stored file covers a shorter range: keep it and write the new file beside
  it under `conflict_key` (`set_aside`, logged as a warning);
* anything else (a foreign or legacy file, or a different incarnation behind a
  colliding tag): the same, but as a `conflict`, logged as an error.

Rows two kept files share are read once by the query views, which read the trail
once per `event_id` (`sinks.query`, `sinks.athena`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq

from sinks.errors import ObjectExists
from sinks.keys import conflict_key
from sinks.object_store import ObjectStore

__all__ = ["Outcome", "decide", "file_metadata", "publish"]

Outcome = Literal["written", "kept", "set_aside", "conflict"]

_SAME_FILE = ("modeltrail.topic", "modeltrail.partition", "modeltrail.first_offset")


def file_metadata(data: bytes) -> dict[str, str]:
    """The `modeltrail.*` key-value metadata of Parquet bytes ({} when there is none)."""
    try:
        meta = pq.read_metadata(pa.BufferReader(data)).metadata or {}
    except (pa.ArrowException, OSError):
        return {}
    out = {}
    for k, v in meta.items():
        name = k.decode(errors="replace")
        if name.startswith("modeltrail."):
            out[name] = v.decode(errors="replace")
    return out


def decide(
    stored: Mapping[str, str], new: Mapping[str, str]
) -> Literal["kept", "set_aside", "conflict"]:
    """What to do when `new` meets a different `stored` file under the same key. Pure."""
    if not all(stored.get(k) == new.get(k) for k in _SAME_FILE):
        return "conflict"
    first_id = stored.get("modeltrail.first_event_id")
    if first_id and first_id != new.get("modeltrail.first_event_id"):
        return "conflict"
    try:
        stored_end = int(stored["modeltrail.last_offset"])
        new_end = int(new["modeltrail.last_offset"])
    except (KeyError, ValueError):
        return "conflict"
    return "kept" if stored_end >= new_end else "set_aside"


async def publish(
    store: ObjectStore, key: str, data: bytes, metadata: Mapping[str, str]
) -> tuple[Outcome, str]:
    """Store `data` under `key` by the rule above; returns (outcome, the key written or kept).

    Raises ObjectStoreError (retriable) when the store cannot be reached.
    """
    if not await store.exists(key):
        try:
            await store.put(key, data, if_absent=True)
            return "written", key
        except ObjectExists:
            pass  # someone wrote it meanwhile: compare with what is there
    stored = await store.get(key)
    if stored == data:
        return "kept", key
    decision = decide(file_metadata(stored), metadata)
    if decision == "kept":
        return "kept", key
    side = conflict_key(key, hashlib.sha256(data).hexdigest())
    try:
        await store.put(side, data, if_absent=True)
    except ObjectExists:
        pass  # the same bytes were set aside by an earlier attempt
    return decision, side
