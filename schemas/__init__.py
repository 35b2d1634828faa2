"""Event models: the single source of truth for every topic and Parquet table."""

from __future__ import annotations

from schemas.arrow import arrow_schema, table_schemas
from schemas.codec import decode, decode_as, encode, encode_key
from schemas.errors import DecodeError, SchemaDriftError, SchemaError
from schemas.events import (
    Action,
    BlockMode,
    ChatMessage,
    DeadLetter,
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
