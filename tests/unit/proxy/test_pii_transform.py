"""The request transform: no field smuggles a value past it; actions and the offline CLI path."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from proxy.pii.errors import EntityBlocked
from proxy.pii.policy import ActionTable, load_rules
from proxy.pii.service import PIIService
from proxy.pii.settings import PIISettings
from proxy.settings import BackendConfig, ProxySettings

REMOTE = BackendConfig(name="openai", url="https://api.openai.com", provider="openai")
LOCAL = BackendConfig(name="llama", url="http://127.0.0.1:11434", provider="ollama")
EMAIL = "jane.doe@example.org"


def _service(**pii: Any) -> PIIService:
    return PIIService.from_settings(ProxySettings(pii=PIISettings(**pii)))


# Every place an attacker (or an honest client) can put text in the three dialects.
BODY: dict[str, Any] = {
    "model": "gpt-4o",
    "id": EMAIL,  # a structural key smuggling a value
    "user": EMAIL,
    "metadata": {"user_id": EMAIL, EMAIL: "as a key"},
    "system": [{"type": "text", "text": f"system {EMAIL}"}],
    "instructions": f"instructions {EMAIL}",
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": f"part {EMAIL}"}]},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
         "function": {"name": "send", "arguments": f'{{"to": "{EMAIL}"}}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": f"result {EMAIL}"},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
         "content": [{"type": "text", "text": EMAIL}]}, {"type": "tool_use", "id": "t2",
         "name": "x", "input": {"to": EMAIL, "card": 4539148803436467}}]},
    ],
    "prompt": [f"legacy {EMAIL}"],
    "input": [{"type": "function_call_output", "call_id": "c", "output": EMAIL}],
    "tools": [{"type": "function", "function": {"name": "send", "description": f"to {EMAIL}"}}],
}  # fmt: skip


async def test_no_field_carries_a_value_past_the_transform() -> None:
    body = orjson.loads(orjson.dumps(BODY))
    done = await _service().transform(REMOTE, "s1", body)
    out = orjson.dumps(body).decode()
    assert EMAIL not in out and "4539148803436467" not in out
    assert out.count("\u27e6EMAIL_1\u27e7") == 14
    assert done is not None and done.counts == {"EMAIL": 14, "CARD": 1}
    assert body["model"] == "gpt-4o" and body["messages"][2]["tool_call_id"] == "c1"


async def test_actions_block_mask_allow_and_local_default() -> None:
    pii = _service(entities={"SSN": "block", "CARD": "mask", "IP": "allow"})
    with pytest.raises(EntityBlocked) as err:
        await pii.transform(REMOTE, "s", {"messages": [{"content": "ssn 078-05-1121"}]})
    assert "SSN" in err.value.message and err.value.status == 403
    body = {"m": "card 4539 1488 0343 6467 from 10.20.30.40"}
    await pii.transform(REMOTE, "s", body)
    assert body["m"] == "card [CARD] from 10.20.30.40"
    assert pii.active(LOCAL)  # a per-type action applies to every backend
    assert not _service().active(LOCAL) and _service().active(REMOTE)


async def test_client_lookalike_is_tokenized_and_comes_back_verbatim() -> None:
    pii = _service()
    await pii.transform(REMOTE, "s", {"m": EMAIL})  # the session's EMAIL_1
    body = {"m": "say \u27e6EMAIL_1\u27e7"}
    done = await pii.transform(REMOTE, "s", body)
    assert body["m"] == "say \u27e6LITERAL_1\u27e7"
    restorer = await pii.restorer("s", done)
    assert restorer is not None
    assert (
        restorer.restore("ok \u27e6LITERAL_1\u27e7 \u27e6EMAIL_1\u27e7")
        == "ok \u27e6EMAIL_1\u27e7 \u27e6EMAIL_1\u27e7"
    )


def test_backend_action_wins_over_type_and_default(tmp_path: Any) -> None:
    f = tmp_path / "pii.yaml"
    f.write_text(
        "default: mask\nentities: {EMAIL: tokenize}\nbackends:\n  openai: {entities: {EMAIL: block}}\n"
    )
    table = ActionTable(PIISettings(policy_file=f))
    assert table.action(REMOTE, "EMAIL") == "block"
    assert table.action(REMOTE, "PHONE") == "mask"
    assert table.action(LOCAL, "PHONE") == "allow"


@pytest.mark.parametrize(
    ("yaml_text", "where"),
    [("entities: {EMAIL: shred}\n", "entities.EMAIL"), ("custom_entities: {bad-name: ['x']}\n", "bad-name"),
     ("nonsense: 1\n", "nonsense")],
)  # fmt: skip
def test_bad_policy_file_names_file_and_field(tmp_path: Any, yaml_text: str, where: str) -> None:
    f = tmp_path / "pii.yaml"
    f.write_text(yaml_text)
    with pytest.raises(ValueError, match=where) as err:
        load_rules(f)
    assert str(f) in str(err.value) or "bad-name" in str(err.value)


async def test_custom_entity_patterns() -> None:
    pii = _service(custom_entities={"EMPLOYEE_ID": [r"\bEMP-\d{6}\b"]})
    text, counts = await pii.transform_text("badge EMP-123456", REMOTE)
    assert text == "badge \u27e6EMPLOYEE_ID_1\u27e7" and counts == {"EMPLOYEE_ID": 1}


async def test_vault_down_fails_closed_or_masks_by_setting() -> None:
    from proxy.pii.errors import VaultUnavailable
    from proxy.pii.store import RedisVaultStore

    for mode in ("fail_closed", "mask"):
        settings = ProxySettings(pii=PIISettings(on_vault_down=mode))
        store = RedisVaultStore("redis://127.0.0.1:1/0", key_prefix="t:", ttl_s=5)
        pii = PIIService.from_settings(settings, store=store)
        await pii.start()
        body = {"m": f"mail {EMAIL}"}
        try:
            if mode == "fail_closed":
                with pytest.raises(VaultUnavailable):
                    await pii.transform(REMOTE, "s", body)
                assert EMAIL in body["m"]
            else:
                await pii.transform(REMOTE, "s", body)
                assert body["m"] == "mail [EMAIL]" and pii.stats.masked_vault_down == 1
        finally:
            await pii.stop()
