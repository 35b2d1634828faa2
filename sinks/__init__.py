"""The Parquet audit trail: Kafka event topics -> zstd Parquet on S3 or a local directory."""

from __future__ import annotations

from sinks.consumer import Sink, SinkStats
from sinks.errors import ConfigError, EncodeError, ObjectStoreError, QueryError, SinkError
from sinks.keys import object_key, parse_key
from sinks.object_store import LocalStore, ObjectStore, S3Store, open_store, parse_target
from sinks.settings import SinkSettings

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
    "object_key",
    "open_store",
    "parse_key",
    "parse_target",
]
