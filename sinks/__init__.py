"""The Parquet audit trail: Kafka event topics -> zstd Parquet on S3 or a local directory."""

from __future__ import annotations

from sinks.consumer import Sink, SinkStats
from sinks.errors import ConfigError, EncodeError, QueryError, SinkError, ObjectStoreError
from sinks.keys import object_key, parse_key
from sinks.settings import SinkSettings
from sinks.object_store import LocalStore, ObjectStore, S3Store, open_store, parse_target

__all__ = [
    "ConfigError",
    "EncodeError",
    "LocalStore",
    "ObjectStore",
    "QueryError",
    "S3Store",
    "Sink",
    "SinkError",
    "SinkSettings",
    "SinkStats",
    "ObjectStoreError",
    "object_key",
    "open_store",
    "parse_key",
    "parse_target",
]
