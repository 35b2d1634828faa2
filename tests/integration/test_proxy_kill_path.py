"""The forwarding path with the real EnforcementService: a kill published to Kafka
cuts a running stream at its next chunk and refuses the session's next request."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaProducer

from proxy.enforcement import EnforcementService
from schemas.codec import encode, encode_key
from schemas.events import LLMResponse, SessionCommand
from schemas.settings import KafkaSettings
from tests.support.proxy_harness import collect, for_request, make_settings, running_proxy

CHAT = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "go"}]}


async def test_kill_cuts_stream_and_refuses_next_request(
    kafka_settings: KafkaSettings, fake_backend_url: str, tmp_path: Path
) -> None:
    settings = make_settings(kafka_settings, fake_backend_url, tmp_path, upstream_timeout_s=10)
    enforcement = EnforcementService(settings)
    slow = {"x-session-id": "victim", "x-fake-chunks": "40", "x-fake-chunk-delay-ms": "100"}
    kill = SessionCommand(
        source="test", session_id="victim", command="kill", block_mode="permanent",
        reason="exfiltration", rule_id="EXFIL-1", issuer="test", decision_id="d-victim",
    )  # fmt: skip
    kill = enforcement.signer.sign(kill)
    producer = AIOKafkaProducer(**kafka_settings.client_kwargs(), acks="all")  # type: ignore[arg-type]
    await producer.start()
    try:
        async with running_proxy(settings, enforcement=enforcement) as proxy:
            async with httpx.AsyncClient(timeout=15) as client:
                url = proxy.url + "/v1/chat/completions"
                async with client.stream("POST", url, json=CHAT, headers=slow) as resp:
                    request_id = resp.headers["x-modeltrail-request-id"]
                    body = b""
                    sent = False
                    async for chunk in resp.aiter_raw():
                        body += chunk
                        if not sent and body.count(b"\n\n") >= 4:  # a few words first
                            await producer.send_and_wait(
                                kafka_settings.topics.commands, encode(kill), key=encode_key(kill)
                            )
                            sent_at = time.monotonic()
                            sent = True
                # Generous on a shared machine: the 1 s SLA is asserted by the enforcement tests.
                assert time.monotonic() - sent_at < 3.0, "the stream was not cut promptly"
                last = body.strip().split(b"\n\n")[-1]
                assert last.startswith(b"data: ")
                error = orjson.loads(last[6:])["error"]
                assert error["type"] == "session_killed" and error["rule_id"] == "EXFIL-1"

                refused = await client.post(url, json=CHAT, headers={"x-session-id": "victim"})
                assert refused.status_code == 403
                assert refused.json()["error"]["reason"] == "exfiltration"
                other = await client.post(url, json=CHAT, headers={"x-session-id": "bystander"})
                assert other.status_code == 200
    finally:
        await producer.stop()
    events = await collect(
        kafka_settings,
        [kafka_settings.topics.responses],
        lambda evs: bool(for_request(evs, request_id)),
    )
    (cut,) = for_request(events, request_id)
    assert isinstance(cut, LLMResponse) and cut.outcome == "killed"
    assert cut.text and len(cut.text.split()) < 40  # part of the answer, not all of it
