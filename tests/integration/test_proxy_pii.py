"""PII never leaves: through the proxy to the fake backend, which records what it receives.

The attacker's view first: every PII value in the prompt (and in tool arguments)
must be absent from what the backend received, and the client must see exactly
the text it would have seen with the raw values, although the backend answers
with placeholders split anywhere across stream chunks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.control import create_control_app
from proxy.dialects import parse_response_body
from proxy.enforcement import EnforcementService
from proxy.pii.service import PIIService
from proxy.pii.store import MemoryVaultStore, RedisVaultStore
from proxy.sse import StreamParser
from schemas.events import LLMRequest, LLMResponse
from schemas.settings import KafkaSettings
from tests.conftest import unique
from tests.support.pii_cases import REPLY, VALUES, pii_settings, received
from tests.support.proxy_fakes import CONTROL_KEYS, ListPublisher
from tests.support.proxy_harness import make_settings, running_proxy

TOOL_ARGS = {"to": VALUES["EMAIL"], "note": f"card {VALUES['CARD']}", "ip": VALUES["IP"]}
OPENAI_TOOLS = [{"type": "function", "function": {"name": "send_mail", "parameters": {}}}]
ANTHROPIC_TOOLS = [{"name": "send_mail", "input_schema": {"type": "object"}}]

CASES: list[tuple[str, str, dict[str, Any], bool]] = [
    ("openai", "/v1/chat/completions", {"model": "gpt-4o", "stream": False}, False),
    ("openai-stream", "/v1/chat/completions", {"model": "gpt-4o", "stream": True}, False),
    (
        "openai-tool-stream",
        "/v1/chat/completions",
        {"model": "gpt-4o", "stream": True, "tools": OPENAI_TOOLS},
        True,
    ),
    ("openai-tool", "/v1/chat/completions", {"model": "gpt-4o", "tools": OPENAI_TOOLS}, True),
    ("anthropic", "/anthropic/v1/messages", {"model": "claude-3-5", "max_tokens": 50}, False),
    (
        "anthropic-stream",
        "/anthropic/v1/messages",
        {"model": "claude-3-5", "max_tokens": 50, "stream": True},
        False,
    ),
    (
        "anthropic-tool-stream",
        "/anthropic/v1/messages",
        {"model": "claude-3-5", "max_tokens": 50, "stream": True, "tools": ANTHROPIC_TOOLS},
        True,
    ),
    (
        "anthropic-tool",
        "/anthropic/v1/messages",
        {"model": "claude-3-5", "max_tokens": 50, "tools": ANTHROPIC_TOOLS},
        True,
    ),
    ("ollama", "/api/chat", {"model": "llama3", "stream": False}, False),
    ("ollama-tool-stream", "/api/chat", {"model": "llama3", "tools": OPENAI_TOOLS}, True),
    ("ollama-stream", "/api/chat", {"model": "llama3"}, False),
    ("ollama-tool", "/api/chat", {"model": "llama3", "stream": False, "tools": OPENAI_TOOLS}, True),
]
READ = {"authorization": "Bearer read-key-123"}
KILL = {"authorization": "Bearer kill-key-456"}
_PROVIDER = {"openai": "openai", "anthropic": "anthropic", "ollama": "ollama"}


def _answer(provider: str, path: str, resp: httpx.Response, stream: bool) -> tuple[str, list[Any]]:
    if stream:
        parser = StreamParser(provider)  # type: ignore[arg-type]
        parser.feed(resp.content)
        got = parser.finish()
        assert parser.malformed == 0, resp.text
    else:
        got = parse_response_body(provider, path, resp.content)  # type: ignore[arg-type]
    return got.text, [json.loads(c.arguments) for c in got.tool_calls]


@pytest.mark.parametrize(("case", "path", "body", "tool"), CASES, ids=[c[0] for c in CASES])
async def test_no_pii_reaches_backend_and_client_sees_raw_text(
    case: str, path: str, body: dict[str, Any], tool: bool, fake_backend_url: str, tmp_path: Path
) -> None:
    marker = unique("pii")
    settings = pii_settings(KafkaSettings(), fake_backend_url, tmp_path)
    publisher = ListPublisher()
    if tool:
        prompt = f"{marker} please fake-tool:send_mail {json.dumps(TOOL_ARGS)}"
    else:
        prompt = f"{marker} my mail is {VALUES['EMAIL']} fake-reply:{REPLY}"
    messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    system = f"The user's IBAN is {VALUES['IBAN']}."
    if path.startswith("/anthropic"):
        body = {**body, "system": system, "messages": messages}
    else:
        body = {**body, "messages": [{"role": "system", "content": system}, *messages]}
    headers = {"x-session-id": marker, "x-fake-split": "chars", "x-fake-chunks": "60"}
    stream = body.get("stream", path == "/api/chat") is not False
    async with running_proxy(settings, publisher=publisher) as proxy, httpx.AsyncClient() as c:
        resp = await c.post(proxy.url + path, json=body, headers=headers)
        assert resp.status_code == 200, resp.text
        seen = await received(c, fake_backend_url, marker)
    assert len(seen) == 1
    for value in VALUES.values():
        assert value not in seen[0], f"{value} reached the backend"
    assert "\u27e6EMAIL_1\u27e7" in seen[0] and "\u27e6IBAN_1\u27e7" in seen[0]
    provider = _PROVIDER[case.split("-")[0]]
    text, calls = _answer(provider, path.removeprefix("/anthropic"), resp, stream)
    if tool:
        assert calls == [TOOL_ARGS]
    else:
        assert text == REPLY
    # The audit trail carries the transformed text and the counts, never a value.
    (req,) = publisher.of(LLMRequest)
    (res,) = publisher.of(LLMResponse)
    dumped = req.model_dump_json() + res.model_dump_json()
    for value in VALUES.values():
        assert value not in dumped
    counts = {e.type: e.count for e in req.pii_entities}
    assert counts["EMAIL"] >= 1 and counts["IBAN"] >= 1


async def test_same_value_same_placeholder_across_turns(
    fake_backend_url: str, tmp_path: Path
) -> None:
    marker = unique("pii-turns")
    settings = pii_settings(KafkaSettings(), fake_backend_url, tmp_path)
    headers = {"x-session-id": marker}
    async with (
        running_proxy(settings, publisher=ListPublisher()) as proxy,
        httpx.AsyncClient() as c,
    ):
        for text in (f"{marker} a@b.example and c@d.example", f"{marker} only c@d.example"):
            body = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}
            resp = await c.post(proxy.url + "/v1/chat/completions", json=body, headers=headers)
            assert resp.status_code == 200
        first, second = await received(c, fake_backend_url, marker)
    assert "\u27e6EMAIL_2\u27e7" in first and "\u27e6EMAIL_2\u27e7" in second
    assert "\u27e6EMAIL_1\u27e7" not in second


async def test_client_placeholder_lookalike_is_not_rehydrated(
    fake_backend_url: str, tmp_path: Path
) -> None:
    """An attacker on the victim's session id asks the model to repeat the victim's
    placeholder: the vault only restores what this request's own text produced."""
    marker = unique("pii-forge")
    settings = pii_settings(KafkaSettings(), fake_backend_url, tmp_path)
    headers = {"x-session-id": marker}
    async with (
        running_proxy(settings, publisher=ListPublisher()) as proxy,
        httpx.AsyncClient() as c,
    ):
        victim = {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "victim@corp.example"}],
        }
        await c.post(proxy.url + "/v1/chat/completions", json=victim, headers=headers)
        forged = f"{marker} fake-reply:\u27e6EMAIL_1\u27e7 and EMAIL_1 and [EMAIL_1]"
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": forged}]}
        resp = await c.post(proxy.url + "/v1/chat/completions", json=body, headers=headers)
        (seen,) = await received(c, fake_backend_url, marker)
    assert "victim@corp.example" not in resp.text
    text = resp.json()["choices"][0]["message"]["content"]
    assert text == "\u27e6EMAIL_1\u27e7 and EMAIL_1 and [EMAIL_1]"  # the client's own text back
    assert "\u27e6EMAIL_1\u27e7" not in seen  # the forged placeholder itself was tokenized


async def test_block_action_answers_403_naming_the_type(
    fake_backend_url: str, tmp_path: Path
) -> None:
    marker = unique("pii-block")
    settings = pii_settings(KafkaSettings(), fake_backend_url, tmp_path, entities={"SSN": "block"})
    async with (
        running_proxy(settings, publisher=ListPublisher()) as proxy,
        httpx.AsyncClient() as c,
    ):
        body = {"model": "claude-3-5", "max_tokens": 5,
                "messages": [{"role": "user", "content": f"{marker} ssn 078-05-1121"}]}  # fmt: skip
        resp = await c.post(proxy.url + "/anthropic/v1/messages", json=body)
        seen = await received(c, fake_backend_url, marker)
    assert resp.status_code == 403
    err = resp.json()
    assert err["type"] == "error" and err["error"]["type"] == "pii_blocked"
    assert "SSN" in err["error"]["message"]
    assert seen == []


async def test_mask_action_is_irreversible(fake_backend_url: str, tmp_path: Path) -> None:
    marker = unique("pii-mask")
    settings = pii_settings(KafkaSettings(), fake_backend_url, tmp_path, entities={"CARD": "mask"})
    async with (
        running_proxy(settings, publisher=ListPublisher()) as proxy,
        httpx.AsyncClient() as c,
    ):
        content = f"{marker} fake-reply:card 4539 1488 0343 6467"
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": content}]}
        resp = await c.post(proxy.url + "/v1/chat/completions", json=body)
        (seen,) = await received(c, fake_backend_url, marker)
    assert "4539" not in seen and "[CARD]" in seen
    assert resp.json()["choices"][0]["message"]["content"] == "card [CARD]"


async def test_local_ollama_defaults_to_allow(fake_backend_url: str, tmp_path: Path) -> None:
    marker = unique("pii-local")
    settings = make_settings(KafkaSettings(), fake_backend_url, tmp_path / "spool")
    async with (
        running_proxy(settings, publisher=ListPublisher()) as proxy,
        httpx.AsyncClient() as c,
    ):
        body = {"model": "llama3", "stream": False,
                "messages": [{"role": "user", "content": f"{marker} jane@x.example"}]}  # fmt: skip
        assert (await c.post(proxy.url + "/api/chat", json=body)).status_code == 200
        (seen,) = await received(c, fake_backend_url, marker)
    assert "jane@x.example" in seen


async def test_expired_vault_passes_placeholders_and_counts(
    fake_backend_url: str, tmp_path: Path
) -> None:
    marker = unique("pii-expired")
    settings = pii_settings(KafkaSettings(), fake_backend_url, tmp_path)
    store = MemoryVaultStore(ttl_s=60)
    pii = PIIService.from_settings(settings, store=store)
    original = pii.vault.resolve

    async def expire_then_resolve(session: str, scope: dict[str, str]) -> Any:
        store.expire_now(session)  # the TTL runs out between the request and its answer
        return await original(session, scope)

    pii.vault.resolve = expire_then_resolve  # type: ignore[method-assign]
    async with (
        running_proxy(settings, publisher=ListPublisher(), pii=pii) as proxy,
        httpx.AsyncClient() as c,
    ):
        body = {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": f"{marker} fake-reply:hi a@b.example"}],
        }
        resp = await c.post(
            proxy.url + "/v1/chat/completions", json=body, headers={"x-session-id": marker}
        )
    assert resp.status_code == 200
    assert resp.json()["choices"][0]["message"]["content"] == "hi \u27e6EMAIL_1\u27e7"
    assert pii.stats.vault_expired == 1


async def test_vault_store_down_fails_closed(fake_backend_url: str, tmp_path: Path) -> None:
    marker = unique("pii-down")
    settings = pii_settings(KafkaSettings(), fake_backend_url, tmp_path)
    store = RedisVaultStore("redis://127.0.0.1:1/0", key_prefix="t:", ttl_s=60)  # nothing listens
    pii = PIIService.from_settings(settings, store=store)
    async with (
        running_proxy(settings, publisher=ListPublisher(), pii=pii) as proxy,
        httpx.AsyncClient() as c,
    ):
        body = {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": f"{marker} a@b.example"}],
        }
        resp = await c.post(proxy.url + "/v1/chat/completions", json=body)
        seen = await received(c, fake_backend_url, marker)
    assert resp.status_code == 503
    assert resp.json()["error"]["type"] == "pii_vault_unavailable"
    assert seen == []


async def test_revoked_entity_and_session_answer_revoked(
    fake_backend_url: str, tmp_path: Path
) -> None:
    marker = unique("pii-revoke")
    settings = pii_settings(KafkaSettings(), fake_backend_url, tmp_path, control_keys=CONTROL_KEYS)
    headers = {"x-session-id": marker}
    reply = f"{marker} fake-reply:to a@b.example and c@d.example"
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": reply}]}
    async with (
        running_proxy(settings, publisher=ListPublisher()) as proxy,
        httpx.AsyncClient() as c,
    ):
        control = create_control_app(
            settings, EnforcementService(settings), None, pii=proxy.app.pii
        )
        ctl = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=control), base_url="http://127.0.0.1"
        )
        url = proxy.url + "/v1/chat/completions"

        async def answer() -> str:
            resp = await c.post(url, json=body, headers=headers)
            return str(resp.json()["choices"][0]["message"]["content"])

        assert await answer() == "to a@b.example and c@d.example"
        path = f"/control/sessions/{marker}/pii/revoke"
        denied = await ctl.post(path, json={"entity": "EMAIL_1"}, headers=READ)
        assert denied.status_code == 403
        ok = await ctl.post(path, json={"entity": "EMAIL_1"}, headers=KILL)
        assert ok.status_code == 200, ok.text
        assert await answer() == "to [REVOKED] and c@d.example"
        assert (await ctl.post(path, json={}, headers=KILL)).status_code == 200
        assert await answer() == "to [REVOKED] and [REVOKED]"
        await ctl.aclose()


@pytest.mark.parametrize("stream", [False, True])
async def test_responses_api_input_and_output(
    stream: bool, fake_backend_url: str, tmp_path: Path
) -> None:
    marker = unique("pii-responses")
    settings = pii_settings(KafkaSettings(), fake_backend_url, tmp_path)
    body = {
        "model": "gpt-4o",
        "stream": stream,
        "instructions": f"The user's IBAN is {VALUES['IBAN']}.",
        "input": [{"role": "user", "content": f"{marker} fake-reply:{REPLY}"}],
    }
    headers = {"x-session-id": marker, "x-fake-split": "chars", "x-fake-chunks": "50"}
    async with (
        running_proxy(settings, publisher=ListPublisher()) as proxy,
        httpx.AsyncClient() as c,
    ):
        resp = await c.post(proxy.url + "/v1/responses", json=body, headers=headers)
        (seen,) = await received(c, fake_backend_url, marker)
    assert resp.status_code == 200, resp.text
    assert not [v for v in VALUES.values() if v in seen]
    text, _ = _answer("openai", "/v1/responses", resp, stream)
    assert text == REPLY
    if stream:  # the closing events carry the whole text: restored as well
        assert "\u27e6" not in resp.text


async def test_capture_raw_keeps_raw_text_in_events_only(
    fake_backend_url: str, tmp_path: Path
) -> None:
    marker = unique("pii-raw")
    settings = pii_settings(KafkaSettings(), fake_backend_url, tmp_path, capture="raw")
    publisher = ListPublisher()
    async with running_proxy(settings, publisher=publisher) as proxy, httpx.AsyncClient() as c:
        body = {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": f"{marker} fake-reply:hi {VALUES['EMAIL']}"}],
        }
        resp = await c.post(proxy.url + "/v1/chat/completions", json=body)
        (seen,) = await received(c, fake_backend_url, marker)
    assert VALUES["EMAIL"] not in seen
    assert resp.json()["choices"][0]["message"]["content"] == f"hi {VALUES['EMAIL']}"
    (req,) = publisher.of(LLMRequest)
    (res,) = publisher.of(LLMResponse)
    assert VALUES["EMAIL"] in req.messages[0].content and res.text == f"hi {VALUES['EMAIL']}"
    assert [(e.type, e.count) for e in req.pii_entities] == [("EMAIL", 1)]
