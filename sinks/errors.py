"""Errors of the sink.

SinkError                 root; `retriable` tells a loop whether trying again can help
├── ConfigError           a bad target or setting (not retriable)
├── StoreError            writing/reading the object store failed (retriable)
│   └── ObjectExists      a write-if-absent found the key taken (not retriable)
├── EncodeError           a batch could not be turned into Parquet (not retriable)
└── QueryError            a DuckDB query over the trail failed (not retriable)
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "EncodeError",
    "ObjectExists",
    "QueryError",
    "SinkError",
    "StoreError",
]


class SinkError(Exception):
    """Root of every sink error."""

    retriable: bool = False


class ConfigError(SinkError):
    """The target or a setting is invalid."""


class StoreError(SinkError):
    """The object store (S3 or a local directory) could not be written or read."""

    retriable = True


class ObjectExists(StoreError):
    """A write-if-absent found an object under the key already."""

    retriable = False


class EncodeError(SinkError):
    """Events could not be encoded as Parquet."""


class QueryError(SinkError):
    """A query over the Parquet trail failed."""
