"""Errors of the sink.

SinkError                 root; `retriable` tells a loop whether trying again can help
├── ConfigError           a bad target or setting (not retriable)
├── ObjectStoreError      writing/reading the object store failed (retriable)
│   └── ObjectExists      a write-if-absent found the key taken (not retriable)
├── EncodeError           a batch could not be turned into Parquet (not retriable)
└── QueryError            a DuckDB query over the trail failed (not retriable)

`is_retriable` is what the sink's retry loop asks: a sink error answers with its
flag; any other error (network, broker, botocore, OS) is retried, nothing may be lost.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "EncodeError",
    "ObjectExists",
    "ObjectStoreError",
    "QueryError",
    "SinkError",
    "is_retriable",
]


class SinkError(Exception):
    """Root of every sink error."""

    retriable: bool = False


class ConfigError(SinkError):
    """The target or a setting is invalid."""


class ObjectStoreError(SinkError):
    """The object store (S3 or a local directory) could not be written or read."""

    retriable = True


class ObjectExists(ObjectStoreError):
    """A write-if-absent found an object under the key already."""

    retriable = False


class EncodeError(SinkError):
    """Events could not be encoded as Parquet."""


class QueryError(SinkError):
    """A query over the Parquet trail failed."""


def is_retriable(exc: BaseException) -> bool:
    """Whether trying the failed step again may help (see the module docstring)."""
    return exc.retriable if isinstance(exc, SinkError) else True
