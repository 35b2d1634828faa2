"""Body shapes: every JSON, form, multipart or text body is transformed; binary is kept."""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson
import pytest

from proxy.pii.bodies import read_shape
from proxy.pii.errors import EntityBlocked
from proxy.pii.service import PIIService
from proxy.pii.settings import PIISettings
from proxy.settings import BackendConfig, ProxySettings

REMOTE = BackendConfig(name="openai", url="https://api.openai.com", provider="openai")
EMAIL = "jane.doe@example.org"
PH = "\u27e6EMAIL_1\u27e7"


def _service(**pii: object) -> PIIService:
    return PIIService.from_settings(ProxySettings(pii=PIISettings(**pii)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (orjson.dumps(EMAIL), orjson.dumps(PH)),  # a bare top-level string
        (orjson.dumps([EMAIL, {"k": EMAIL}]), orjson.dumps([PH, {"k": PH}])),
        (f"hello {EMAIL}".encode(), f"hello {PH}".encode()),
    ],
)
async def test_json_and_text_bodies(body: bytes, expected: bytes) -> None:
    done, _, out = await _service().prepare(REMOTE, "s", body, "text/plain")
    assert done is not None and out == expected


async def test_form_values_are_decoded_before_the_scan() -> None:
    body = b"to=jane.doe%40example.org&n=1&empty="
    done, audited, out = await _service().prepare(
        REMOTE, "s", body, "application/x-www-form-urlencoded; charset=utf-8"
    )
    assert done is not None and done.counts["EMAIL"] == 1
    assert parse_qsl(out.decode(), keep_blank_values=True) == [
        ("to", PH),
        ("n", "1"),
        ("empty", ""),
    ]
    assert EMAIL not in str(audited) and "%40" not in out.decode()


async def test_multipart_text_parts_transformed_binary_parts_kept() -> None:
    binary = b"\x89PNG\xff\x00" + EMAIL.encode()  # not UTF-8: kept byte for byte
    body = (
        b'--b1\r\nContent-Disposition: form-data; name="note"\r\n\r\nfor ' + EMAIL.encode()
        + b'\r\n--b1\r\nContent-Disposition: form-data; name="f"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + binary + b"\r\n--b1--\r\n"
    )  # fmt: skip
    done, _, out = await _service().prepare(REMOTE, "s", body, 'multipart/form-data; boundary="b1"')
    assert done is not None
    assert out == body.replace(b"for " + EMAIL.encode(), b"for " + PH.encode())


async def test_binary_body_forwarded_unchanged() -> None:
    body = b"\xff\xfe" + EMAIL.encode()
    assert read_shape(body, "application/octet-stream") is None
    done, _, out = await _service().prepare(REMOTE, "s", body, "application/octet-stream")
    assert done is None and out is body


async def test_block_applies_to_text_bodies() -> None:
    with pytest.raises(EntityBlocked, match="EMAIL"):
        await _service(entities={"EMAIL": "block"}).prepare(REMOTE, "s", EMAIL.encode(), "")


async def test_capture_raw_audits_the_raw_text() -> None:
    done, audited, out = await _service(capture="raw").prepare(
        REMOTE, "s", f"hi {EMAIL}".encode(), "text/plain"
    )
    assert done is not None and audited == f"hi {EMAIL}" and out == f"hi {PH}".encode()
