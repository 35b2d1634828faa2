"""The Parquet audit trail: Kafka event topics -> zstd Parquet on S3 or a local directory.

Names load on first use: the proxy reads `sinks.settings` without loading aiokafka or pyarrow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas.lazy import lazy_exports

if TYPE_CHECKING:
    from sinks.consumer import Sink
    from sinks.errors import ConfigError, EncodeError, ObjectStoreError, QueryError, SinkError
    from sinks.keys import object_key, parse_key
    from sinks.object_store import LocalStore, ObjectStore, S3Store, open_store, parse_target
    from sinks.settings import SinkSettings, TrailLocation
    from sinks.stats import SinkStats

__all__ = [
    "ConfigError",
    "EncodeError",
    "LocalStore",
    "ObjectStore",
    "ObjectStoreError",
    "QueryError",
    "S3Store",
    "Sink",
    "SinkError",
    "SinkSettings",
    "SinkStats",
    "TrailLocation",
    "object_key",
    "open_store",
    "parse_key",
    "parse_target",
]

# Where each public name lives; imported on first access.
_WHERE = {
    "Sink": "sinks.consumer",
    "SinkStats": "sinks.stats",
    "ConfigError": "sinks.errors",
    "EncodeError": "sinks.errors",
    "ObjectStoreError": "sinks.errors",
    "QueryError": "sinks.errors",
    "SinkError": "sinks.errors",
    "object_key": "sinks.keys",
    "parse_key": "sinks.keys",
    "LocalStore": "sinks.object_store",
    "ObjectStore": "sinks.object_store",
    "S3Store": "sinks.object_store",
    "open_store": "sinks.object_store",
    "parse_target": "sinks.object_store",
    "SinkSettings": "sinks.settings",
    "TrailLocation": "sinks.settings",
}

__getattr__ = lazy_exports(__name__, _WHERE)
