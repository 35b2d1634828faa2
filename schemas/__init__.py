"""Event models: the single source of truth for every topic and Parquet table.

Names load on first use, so importing one model does not load pyarrow (`schemas.arrow`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas.lazy import lazy_exports

if TYPE_CHECKING:
    from schemas.arrow import arrow_schema, table_schemas
    from schemas.codec import decode, decode_as, encode, encode_key
    from schemas.errors import DecodeError, SchemaDriftError, SchemaError
    from schemas.events import (
        Action,
        BlockMode,
        ChatMessage,
        DeadLetter,
        EntityCount,
        Event,
        EventEnvelope,
        Evidence,
        LLMRequest,
        LLMResponse,
        Outcome,
        Provider,
        SessionCommand,
        Severity,
        StreamWindow,
        Target,
        ToolCall,
        Violation,
        utcnow,
    )
    from schemas.ids import fingerprint, uuid7
    from schemas.settings import KafkaSettings, RedisSettings
    from schemas.topics import TABLES, Topics

__all__ = [
    "TABLES",
    "Action",
    "BlockMode",
    "ChatMessage",
    "DeadLetter",
    "DecodeError",
    "EntityCount",
    "Event",
    "EventEnvelope",
    "Evidence",
    "KafkaSettings",
    "LLMRequest",
    "LLMResponse",
    "Outcome",
    "Provider",
    "RedisSettings",
    "SchemaDriftError",
    "SchemaError",
    "SessionCommand",
    "Severity",
    "StreamWindow",
    "Target",
    "ToolCall",
    "Topics",
    "Violation",
    "arrow_schema",
    "decode",
    "decode_as",
    "encode",
    "encode_key",
    "fingerprint",
    "table_schemas",
    "utcnow",
    "uuid7",
]

# Where each public name lives; imported on first access.
_WHERE = {
    "arrow_schema": "schemas.arrow",
    "table_schemas": "schemas.arrow",
    "decode": "schemas.codec",
    "decode_as": "schemas.codec",
    "encode": "schemas.codec",
    "encode_key": "schemas.codec",
    "DecodeError": "schemas.errors",
    "SchemaDriftError": "schemas.errors",
    "SchemaError": "schemas.errors",
    "Action": "schemas.events",
    "BlockMode": "schemas.events",
    "ChatMessage": "schemas.events",
    "DeadLetter": "schemas.events",
    "EntityCount": "schemas.events",
    "Event": "schemas.events",
    "EventEnvelope": "schemas.events",
    "Evidence": "schemas.events",
    "LLMRequest": "schemas.events",
    "LLMResponse": "schemas.events",
    "Outcome": "schemas.events",
    "Provider": "schemas.events",
    "SessionCommand": "schemas.events",
    "Severity": "schemas.events",
    "StreamWindow": "schemas.events",
    "Target": "schemas.events",
    "ToolCall": "schemas.events",
    "Violation": "schemas.events",
    "utcnow": "schemas.events",
    "fingerprint": "schemas.ids",
    "uuid7": "schemas.ids",
    "KafkaSettings": "schemas.settings",
    "RedisSettings": "schemas.settings",
    "TABLES": "schemas.topics",
    "Topics": "schemas.topics",
}

__getattr__ = lazy_exports(__name__, _WHERE)
