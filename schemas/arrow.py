"""Arrow schemas derived from the event models, in one place, never inferred per batch."""

from __future__ import annotations

import types
import typing
from datetime import datetime
from functools import cache
from typing import Literal, Union, get_args, get_origin

import pyarrow as pa
from pydantic import BaseModel

from schemas.events import EventEnvelope
from schemas.topics import TABLES

__all__ = ["arrow_schema", "table_schemas"]


def _is_optional(annotation: object) -> tuple[bool, object]:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return True, args[0]
    return False, annotation


def _arrow_type(annotation: object) -> pa.DataType:
    _, annotation = _is_optional(annotation)
    origin = get_origin(annotation)
    if origin is Literal:
        return pa.string()
    if origin is list:
        (item,) = get_args(annotation)
        return pa.list_(_arrow_type(item))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return pa.struct(
            [
                pa.field(name, _arrow_type(f.annotation), nullable=True)
                for name, f in annotation.model_fields.items()
            ]
        )
    simple: dict[object, pa.DataType] = {
        str: pa.string(),
        int: pa.int64(),
        float: pa.float64(),
        bool: pa.bool_(),
        datetime: pa.timestamp("us", tz="UTC"),
    }
    if annotation in simple:
        return simple[annotation]
    raise TypeError(f"no Arrow type for {annotation!r}")


@cache
def arrow_schema(model: type[EventEnvelope]) -> pa.Schema:
    """The Arrow schema of a model's Parquet table.

    Every column is nullable so that a field added later (additive v1 change)
    reads as null in older files.
    """
    hints = typing.get_type_hints(model)
    fields = [
        pa.field(name, _arrow_type(hints[name]), nullable=True) for name in model.model_fields
    ]
    return pa.schema(fields, metadata={b"modeltrail.type": model.model_fields["type"].default})


def table_schemas() -> dict[str, pa.Schema]:
    """Table name -> Arrow schema, for every table."""
    return {name: arrow_schema(model) for name, model in TABLES.items()}
