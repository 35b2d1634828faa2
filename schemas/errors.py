"""Errors raised by the schemas package.

SchemaError                 root; never retriable: the bytes will not change
├── DecodeError             a Kafka value is not JSON or not a known event
├── SchemaDriftError        committed JSON Schema files differ from the models
└── SigningError            the command-signing key ring is missing, weak or exposed
"""

from __future__ import annotations

__all__ = ["DecodeError", "SchemaDriftError", "SchemaError", "SigningError"]


class SchemaError(Exception):
    """Root of every schemas error."""

    retriable = False


class DecodeError(SchemaError):
    """A value could not be decoded into a known event."""


class SchemaDriftError(SchemaError):
    """The committed JSON Schema files no longer match the models."""


class SigningError(SchemaError):
    """The key ring is missing, unreadable, too weak or readable by others."""
