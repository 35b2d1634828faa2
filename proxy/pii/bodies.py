"""The request body shapes the transform reads, and how each is written back.

Every body is transformed, whatever path it goes to: a known API's JSON and a
pass-through body alike (an unknown endpoint, a base path the proxy does not
know, another spelling), since a client that leaks PII does not pick its paths.

- JSON (whatever the content type says): every string, as `transform.scan_body`
  reads it; the top-level value too (a bare string or number).
- `application/x-www-form-urlencoded`: each name and value, decoded (so `%40`
  cannot hide an email) and encoded again.
- `multipart/form-data`: each part's headers and content that are UTF-8 text (a
  field, a JSONL or CSV upload) as text; binary parts (audio, images, PDFs)
  are kept byte for byte.
- any other UTF-8 body (text/plain, XML, ...): the text as a whole.
- a body that is none of these (binary) is forwarded unchanged: the transform
  reads text only, and a binary format holds no text it could replace safely.

A shape is a `holder` list whose items the scan replaces in place (`str` items
are scanned, `bytes` items kept), and `encode` writes the holder back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

__all__ = ["Shape", "read_shape"]

_BOUNDARY_MAX = 200


@dataclass(slots=True)
class Shape:
    """A parsed body: what to scan (`holder`), how to write it back, what the audit gets."""

    holder: list[Any]
    encode: Callable[[list[Any]], bytes]
    audited: Callable[[list[Any]], Any]
    json: bool


def _json_encode(holder: list[Any]) -> bytes:
    return orjson.dumps(holder[0])


def _first(holder: list[Any]) -> Any:
    return holder[0]


def _pairs_encode(holder: list[Any]) -> bytes:
    return urlencode([tuple(p) for p in holder[0]]).encode()


def _pairs_text(holder: list[Any]) -> str:
    return _pairs_encode(holder).decode()


def _join(holder: list[Any]) -> bytes:
    return b"".join(p.encode() if isinstance(p, str) else p for p in holder)


def _join_text(holder: list[Any]) -> str:
    return _join(holder).decode("utf-8", "replace")


def _text_encode(holder: list[Any]) -> bytes:
    return str(holder[0]).encode()


def _boundary(content_type: str) -> bytes | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary":
            value = value.strip().strip('"')
            if 0 < len(value) <= _BOUNDARY_MAX:
                return value.encode("latin-1", "replace")
    return None


def _multipart(body: bytes, boundary: bytes) -> list[Any]:
    """Pieces of a multipart body: delimiters and binary parts as bytes, text as str."""
    delimiter = b"--" + boundary
    segments = body.split(delimiter)
    pieces: list[Any] = [_text_or_bytes(segments[0])]
    for seg in segments[1:]:
        pieces.append(delimiter)
        end = seg.find(b"\r\n\r\n")
        if end < 0:  # the closing `--` and epilogue, or a malformed part: as text if it is
            pieces.append(_text_or_bytes(seg))
            continue
        pieces.append(_text_or_bytes(seg[: end + 4]))
        pieces.append(_text_or_bytes(seg[end + 4 :]))
    return pieces


def _text_or_bytes(data: bytes) -> str | bytes:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def read_shape(body: bytes, content_type: str) -> Shape | None:
    """The body's shape for scanning; None for a binary body (forwarded unchanged)."""
    try:
        return Shape([orjson.loads(body)], _json_encode, _first, json=True)
    except orjson.JSONDecodeError:
        pass
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == "multipart/form-data":
        boundary = _boundary(content_type)
        if boundary is not None and b"--" + boundary in body:
            return Shape(_multipart(body, boundary), _join, _join_text, json=False)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if ctype == "application/x-www-form-urlencoded":
        pairs = [list(p) for p in parse_qsl(text, keep_blank_values=True)]
        return Shape([pairs], _pairs_encode, _pairs_text, json=False)
    return Shape([text], _text_encode, _first, json=False)
