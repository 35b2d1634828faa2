"""PII never leaves on pass-through either: paths no dialect claims, any body shape.

The attacker's (or the leaky client's) view: the same PII sent to a path the proxy
does not classify (an unknown endpoint, a base path it does not know, another
spelling) or in a body that is not JSON (plain text, a form, a multipart upload)
must not reach the backend, which records every body it receives; answers that
repeat the placeholders are restored for the client.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from proxy.dialects import parse_response_body
from proxy.sse import StreamParser
from schemas.settings import KafkaSettings
from tests.conftest import unique
from tests.support.pii_cases import REPLY, VALUES, pii_settings, received
from tests.support.proxy_fakes import ListPublisher
from tests.support.proxy_harness import running_proxy


def _leaked(seen: list[str]) -> list[str]:
    """Values found in what the backend received, raw or JSON-escaped."""
    out = []
    for body in seen:
        for value in VALUES.values():
            if value in body or json.dumps(value)[1:-1] in body:
                out.append(value)
    return out


# Paths the fake answers as a chat call (it routes by suffix) but the proxy does not
# classify: the answer repeats the placeholders, so it exercises rehydration too.
ECHOED = [
    ("openai", "/unknown-base/v1/chat/completions", {"model": "gpt-4o"}, False),
    ("openai", "/unknown-base/v1/chat/completions", {"model": "gpt-4o"}, True),
    ("anthropic", "/anthropic/x/v1/messages", {"model": "claude-3-5", "max_tokens": 50}, False),
    ("anthropic", "/anthropic/x/v1/messages", {"model": "claude-3-5", "max_tokens": 50}, True),
]


@pytest.mark.parametrize(
    ("provider", "path", "base", "stream"),
    ECHOED,
    ids=[f"{p}-{'stream' if s else 'buffered'}" for p, _, _, s in ECHOED],
)
async def test_unclassified_path_json_is_transformed_and_answer_restored(
    provider: str,
    path: str,
    base: dict[str, Any],
    stream: bool,
    fake_backend_url: str,
    tmp_path: Path,
) -> None:
    marker = unique("pii-pt")
    settings = pii_settings(KafkaSettings(), fake_backend_url, tmp_path)
    content = f"{marker} my mail is {VALUES['EMAIL']} fake-reply:{REPLY}"
    body = {**base, "stream": stream, "messages": [{"role": "user", "content": content}]}
    headers = {"x-session-id": marker, "x-fake-split": "chars", "x-fake-chunks": "60"}
    async with (
        running_proxy(settings, publisher=ListPublisher()) as proxy,
        httpx.AsyncClient() as c,
    ):
        resp = await c.post(proxy.url + path, json=body, headers=headers)
        seen = await received(c, fake_backend_url, marker)
    assert len(seen) == 1 and not _leaked(seen), seen
    assert "\u27e6EMAIL_1\u27e7" in seen[0]
    assert resp.status_code == 200, resp.text
    if stream:
        parser = StreamParser(provider)  # type: ignore[arg-type]
        parser.feed(resp.content)
        text = parser.finish().text
        assert parser.malformed == 0
    else:
        text = parse_response_body(provider, "/v1/x", resp.content).text  # type: ignore[arg-type]
    assert text == REPLY


SPELLINGS = ["/v1/unknown-endpoint", "/V1/chat/completions", "/v1//assistants/../threads"]


@pytest.mark.parametrize("path", SPELLINGS)
@pytest.mark.parametrize("passthrough", ["inspect", "allow"])
async def test_json_on_any_unclassified_path_reaches_backend_without_pii(
    path: str, passthrough: str, fake_backend_url: str, tmp_path: Path
) -> None:
    marker = unique("pii-ptj")
    settings = pii_settings(KafkaSettings(), fake_backend_url, tmp_path, passthrough=passthrough)
    body = {
        "note": f"{marker} {REPLY}",
        "nested": [{"contact": VALUES["EMAIL"], "numbers": [4539148803436467]}],
        VALUES["EMAIL"]: "a key, not a value",
    }
    async with (
        running_proxy(settings, publisher=ListPublisher()) as proxy,
        httpx.AsyncClient() as c,
    ):
        resp = await c.post(proxy.url + path, json=body, headers={"x-session-id": marker})
        seen = await received(c, fake_backend_url, marker)
    assert resp.status_code == 404  # the fake knows no such endpoint: it answered
    assert len(seen) == 1 and not _leaked(seen), seen
    assert "4539148803436467" not in seen[0]
    assert json.loads(seen[0])["note"].startswith(f"{marker} Dear \u27e6EMAIL_1\u27e7")


def _multipart(marker: str) -> tuple[bytes, str]:
    boundary = "mtboundary7"
    jsonl = json.dumps({"messages": [{"role": "user", "content": REPLY}]})
    parts = [
        ('name="purpose"', "text/plain", f"{marker} fine-tune for {VALUES['EMAIL']}".encode()),
        ('name="file"; filename="train.jsonl"', "application/jsonl", jsonl.encode()),
        ('name="image"; filename="x.bin"', "application/octet-stream", b"\xff\xfe\x00raw"),
    ]
    out = b""
    for disposition, ctype, data in parts:
        out += f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n".encode()
        out += f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("shape", ["text", "form", "multipart"])
async def test_non_json_bodies_reach_backend_without_pii(
    shape: str, fake_backend_url: str, tmp_path: Path
) -> None:
    marker = unique("pii-ptt")
    settings = pii_settings(KafkaSettings(), fake_backend_url, tmp_path)
    if shape == "text":
        content, ctype = f"{marker} {REPLY}".encode(), "text/plain; charset=utf-8"
    elif shape == "form":
        content = urlencode({"marker": marker, "email": VALUES["EMAIL"], "reply": REPLY}).encode()
        ctype = "application/x-www-form-urlencoded"
    else:
        content, ctype = _multipart(marker)
    async with (
        running_proxy(settings, publisher=ListPublisher()) as proxy,
        httpx.AsyncClient() as c,
    ):
        resp = await c.post(
            proxy.url + "/v1/files",
            content=content,
            headers={"content-type": ctype, "x-session-id": marker},
        )
        seen = await received(c, fake_backend_url, marker)
    assert resp.status_code in (200, 404), resp.text
    assert len(seen) == 1, seen
    decoded = [seen[0], seen[0].replace("+", " ")]
    assert not _leaked(decoded), seen[0]
    assert "EMAIL_1" in seen[0]
    if shape == "multipart":
        assert b"\xff\xfe\x00raw" in content and 'filename="x.bin"' in seen[0]


async def test_block_entity_in_a_text_body_answers_403(
    fake_backend_url: str, tmp_path: Path
) -> None:
    marker = unique("pii-ptb")
    settings = pii_settings(KafkaSettings(), fake_backend_url, tmp_path, entities={"SSN": "block"})
    async with (
        running_proxy(settings, publisher=ListPublisher()) as proxy,
        httpx.AsyncClient() as c,
    ):
        resp = await c.post(
            proxy.url + "/v1/unknown",
            content=f"{marker} ssn {VALUES['SSN']}".encode(),
            headers={"content-type": "text/plain"},
        )
        seen = await received(c, fake_backend_url, marker)
    assert resp.status_code == 403
    err = resp.json()["error"]
    assert err["type"] == "pii_blocked" and "SSN" in err["message"]
    assert seen == []


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/unknown"])
async def test_a_duplicate_key_cannot_carry_a_value_past_the_transform(
    path: str, fake_backend_url: str, tmp_path: Path
) -> None:
    """The parse keeps the last of two duplicate keys; the first, holding the value,
    must not reach the backend's bytes (its logs) either."""
    marker = unique("pii-dup")
    settings = pii_settings(KafkaSettings(), fake_backend_url, tmp_path)
    raw = (
        '{"model": "gpt-4o", "messages": [{"role": "user", '
        f'"content": "{VALUES["EMAIL"]}", "content": "{marker} hello"}}]}}'
    ).encode()
    async with (
        running_proxy(settings, publisher=ListPublisher()) as proxy,
        httpx.AsyncClient() as c,
    ):
        resp = await c.post(
            proxy.url + path, content=raw, headers={"content-type": "application/json"}
        )
        seen = await received(c, fake_backend_url, marker)
    assert resp.status_code in (200, 404), resp.text
    assert len(seen) == 1 and VALUES["EMAIL"] not in seen[0], seen
