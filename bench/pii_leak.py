"""PII leak benchmark: faker-generated PII through the proxy, what reached the backend.

Starts the fake backend (it records every body it receives) and, in a child
process, two proxies on it, one with the PII transform and one without
(events go to a null publisher: this measures the transform, not Kafka). Then:

1. sends `--prompts` prompts (default 2,000), each carrying faker values of
   every supported entity type, half streamed (the fake splits its answer
   anywhere, so placeholders are cut across chunks), rotating over OpenAI
   chat, Anthropic messages and Ollama chat. The prompt asks the fake to echo
   a reply made of the same values; the client must get exactly that reply.
   A value counts as leaked when it appears in any body the backend received.
2. added latency: a 2 KB prompt with four PII values in prose (echoed back),
   sent alternately through both proxies at concurrency 1; `added_p50_ms` is
   the difference of the p50s. On a shared machine wall time also counts the
   waits for a core, so the proxies' CPU time per request is measured too, in
   alternating blocks (`added_cpu_ms`, from /proc/PID/schedstat). The
   in-process cost of transform + rehydrate alone is reported too, and for a
   dense 2 KB prompt (a value every ~70 bytes).

`--json` prints on its last line:
{"pii_values_sent", "pii_values_leaked_to_backend", "rehydrated_exact", "added_p50_ms", ...}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from faker import Faker

from modeltrail.embedded.process import ManagedProcess, free_port, port_open
from proxy.dialects import parse_response_body
from proxy.sse import StreamParser

ROUTES = [
    ("openai", "/v1/chat/completions", {"model": "gpt-4o"}),
    ("anthropic", "/anthropic/v1/messages", {"model": "claude-3-5", "max_tokens": 500}),
    ("ollama", "/api/chat", {"model": "llama3"}),
]


class NullPublisher:
    """Drops events: the benchmark measures the transform, not the audit pipeline."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def publish(self, event: object) -> bool:
        return True

    def accepting(self) -> bool:
        return True

    def stats(self) -> dict[str, object]:
        return {}


def _settings(backend_url: str, port: int, pii: bool) -> Any:
    from proxy.settings import BackendConfig, ProxySettings

    backends = [
        BackendConfig(name="openai", url=backend_url, provider="openai", models=["gpt-*"]),
        BackendConfig(
            name="anthropic",
            url=f"{backend_url}/a",
            provider="anthropic",
            models=["claude-*"],
            path_prefix="/anthropic",
        ),
        BackendConfig(name="ollama", url=f"{backend_url}/o", provider="ollama", models=["llama*"]),
    ]
    return ProxySettings(
        port=port,
        backends=backends,
        default_backend="openai",
        inline_policy=False,
        client_auth="none",  # no identity.keys follower: no broker in this bench
        pii={"enabled": pii, "backends": {"ollama": {"default": "tokenize"}}},
    )


def _serve(backend_url: str, ports: tuple[int, int]) -> None:
    """Child process: both proxies in one uvloop."""
    import uvicorn
    import uvloop

    from proxy.app import create_app

    async def main() -> None:
        servers = []
        for port, pii in ((ports[0], True), (ports[1], False)):
            app = create_app(_settings(backend_url, port, pii), publisher=NullPublisher())
            config = uvicorn.Config(app, host="127.0.0.1", port=port, loop="none",
                                    http="httptools", access_log=False, log_level="warning")  # fmt: skip
            servers.append(uvicorn.Server(config))
        await asyncio.gather(*(s._serve() for s in servers))

    uvloop.run(main())


def _values(fake: Faker) -> dict[str, tuple[str, str]]:
    """One value per entity type with the context it is written in: {type: (value, text)}."""
    card = fake.credit_card_number()
    phone = fake.phone_number()
    key = "AKIA" + fake.bothify("?" * 16, letters="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    token = "ghp_" + fake.password(length=36, special_chars=False)
    secret = fake.password(length=24, special_chars=False)
    password = fake.password(length=14, special_chars=True).replace("'", "!").replace('"', "#")
    passport = fake.bothify("?#######").upper()
    dob = fake.date_of_birth().isoformat()
    values = {
        "EMAIL": (e := fake.email(), f"write to {e}"),
        "PHONE": (phone, f"phone: {phone}"),
        "CARD": (card, f"card number {card}"),
        "IBAN": (i := fake.iban(), f"IBAN {i}"),
        "SSN": (s := fake.ssn(), f"SSN {s}"),
        "IP": (ip := fake.ipv4_public(), f"from {ip}"),
        "IPV6": (ip6 := fake.ipv6(), f"via {ip6}"),
        "DOB": (dob, f"date of birth: {dob}"),
        "NATIONAL_ID": (passport, f"passport number {passport}"),
        "API_KEY": (key, f"aws key {key}"),
        "TOKEN": (token, f"github token {token}"),
        "SECRET": (secret, f"api_key={secret}"),
        "PASSWORD": (password, f"password: {password}"),
    }
    return values


def _prompt(fake: Faker, i: int) -> tuple[str, str, list[str]]:
    """(prompt, expected reply, PII values) for prompt `i`."""
    vals = _values(fake)
    reply = "Noted: " + "; ".join(text for _, text in vals.values()) + f". Ticket {i}."
    intro = f"bench-{i} hello, I am {vals['EMAIL'][0]}."
    return f"{intro} fake-reply:{reply}", reply, [v for v, _ in vals.values()]


def _answer(provider: str, path: str, resp: httpx.Response, stream: bool) -> str:
    if stream:
        parser = StreamParser(provider, ndjson=provider == "ollama")  # type: ignore[arg-type]
        parser.feed(resp.content)
        return parser.finish().text
    return parse_response_body(provider, path, resp.content).text  # type: ignore[arg-type]


async def _leak_run(proxy: str, backend: str, n: int) -> dict[str, Any]:
    fake = Faker("en_US")
    Faker.seed(14)
    sent = exact = 0
    values_by_prompt: dict[str, list[str]] = {}
    async with httpx.AsyncClient(timeout=30) as client:
        await client.delete(f"{backend}/_fake/received")
        for i in range(n):
            provider, path, base = ROUTES[i % len(ROUTES)]
            stream = i % 2 == 1
            prompt, reply, values = _prompt(fake, i)
            body = {**base, "stream": stream, "messages": [{"role": "user", "content": prompt}]}
            headers = {"x-session-id": f"bench-{i % 50}", "x-fake-split": "chars",
                       "x-fake-chunks": "97"}  # fmt: skip
            resp = await client.post(proxy + path, json=body, headers=headers)
            sent += len(values)
            values_by_prompt[f"bench-{i} "] = values
            if (
                resp.status_code == 200
                and _answer(provider, path.removeprefix("/anthropic"), resp, stream) == reply
            ):
                exact += 1
        received = (await client.get(f"{backend}/_fake/received")).json()["bodies"]
    leaked = 0
    leaked_types: dict[str, int] = {}
    for body_text in received:
        decoded = json.dumps(json.loads(body_text), ensure_ascii=False)
        for marker, values in values_by_prompt.items():
            if marker in decoded:
                for v in values:
                    if v in decoded or v in body_text:
                        leaked += 1
                        leaked_types[v[:3]] = leaked_types.get(v[:3], 0) + 1
    return {"pii_values_sent": sent, "pii_values_leaked_to_backend": leaked,
            "rehydrated_exact": round(exact / n, 5), "prompts": n}  # fmt: skip


def _latency_content(dense: bool) -> str:
    """A 2 KB user message: four PII values in prose, or (`dense`) a value every ~70 bytes."""
    fake = Faker("en_US")
    Faker.seed(7)
    filler = " ".join(fake.sentence() for _ in range(60))
    if dense:
        prompt, _, _ = _prompt(fake, 0)
        return (prompt + " " + filler)[:2048]
    head = (f"Hi, I am {fake.email()}, phone: {fake.phone_number()}, card number "
            f"{fake.credit_card_number()}, IBAN {fake.iban()}. ")  # fmt: skip
    return "fake-reply:" + (head + filler)[: 2048 - len("fake-reply:")]


def _cpu_ns(pid: int) -> int:
    """Nanoseconds the process's main thread (the proxies' event loop) has run on a CPU."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


async def _latency(on: str, off: str, rounds: int, pid: int) -> dict[str, float]:
    content = _latency_content(dense=False)
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": content}]}
    url_path = "/v1/chat/completions"
    headers = {"x-session-id": "lat"}
    times: dict[str, list[float]] = {on: [], off: []}
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(20):  # warm-up
            for url in (on, off):
                await client.post(url + url_path, json=body, headers=headers)
        for _ in range(rounds):
            for url in (on, off):
                t0 = time.perf_counter()
                resp = await client.post(url + url_path, json=body, headers=headers)
                times[url].append((time.perf_counter() - t0) * 1000)
                assert resp.status_code == 200
        # CPU time of the proxies' loop per request, in alternating blocks: unlike wall
        # time it does not grow while other processes hold the shared cores.
        cpu = {on: 0, off: 0}
        block, blocks = 25, max(1, rounds // 25)
        for _ in range(blocks):
            for url in (on, off):
                before = _cpu_ns(pid)
                for _ in range(block):
                    await client.post(url + url_path, json=body, headers=headers)
                cpu[url] += _cpu_ns(pid) - before
    p50_on, p50_off = statistics.median(times[on]), statistics.median(times[off])
    n = block * blocks
    return {"p50_with_ms": round(p50_on, 3), "p50_without_ms": round(p50_off, 3),
            "added_p50_ms": round(p50_on - p50_off, 3), "prompt_bytes": len(content.encode()),
            "cpu_with_ms": round(cpu[on] / n / 1e6, 4), "cpu_without_ms": round(cpu[off] / n / 1e6, 4),
            "added_cpu_ms": round((cpu[on] - cpu[off]) / n / 1e6, 4)}  # fmt: skip


def _inprocess(rounds: int, dense: bool) -> float:
    """p50 ms of transform + rehydrate alone on a 2 KB prompt (no HTTP)."""
    from proxy.pii.rehydrate import restore_body
    from proxy.pii.service import PIIService

    settings = _settings("http://127.0.0.1:9", 0, True)
    pii = PIIService.from_settings(settings)
    backend = settings.backends[0]
    raw = json.dumps(
        {"model": "gpt-4o", "messages": [{"role": "user", "content": _latency_content(dense)}]}
    )

    async def one() -> float:
        t0 = time.perf_counter()
        body = json.loads(raw)
        done = await pii.transform(backend, "lat", body)
        answer = json.dumps(
            {"choices": [{"message": {"content": body["messages"][0]["content"]}}]}
        ).encode()
        restorer = await pii.restorer("lat", done)
        if restorer is not None:
            restore_body(restorer, answer)
        return (time.perf_counter() - t0) * 1000

    async def run() -> list[float]:
        return [await one() for _ in range(rounds)]

    return statistics.median(asyncio.run(run()))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--prompts", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=600, help="latency samples per proxy")
    ap.add_argument("--json", action="store_true", help="print the result as JSON last")
    args = ap.parse_args()

    bport, on_port, off_port = free_port(), free_port(), free_port()
    backend = ManagedProcess(
        "fake-backend",
        [
            sys.executable,
            "-m",
            "modeltrail.embedded.fake_backend",
            "--host",
            "127.0.0.1",
            "--port",
            str(bport),
        ],
        log_path=Path("/tmp") / f"pii-bench-backend-{bport}.log",
        ready=lambda: port_open("127.0.0.1", bport),
    ).start()
    backend_url = f"http://127.0.0.1:{bport}"
    child = mp.get_context("spawn").Process(target=_serve, args=(backend_url, (on_port, off_port)))
    child.start()
    try:
        deadline = time.monotonic() + 60
        while not (port_open("127.0.0.1", on_port) and port_open("127.0.0.1", off_port)):
            if time.monotonic() > deadline or not child.is_alive():
                raise SystemExit("proxies did not start")
            time.sleep(0.1)
        on, off = f"http://127.0.0.1:{on_port}", f"http://127.0.0.1:{off_port}"
        result = asyncio.run(_leak_run(on, backend_url, args.prompts))
        assert child.pid is not None
        result.update(asyncio.run(_latency(on, off, args.rounds, child.pid)))
        result["inprocess_p50_ms"] = round(_inprocess(2000, dense=False), 4)
        result["inprocess_dense_p50_ms"] = round(_inprocess(500, dense=True), 4)
    finally:
        child.terminate()
        child.join(10)
        backend.stop()
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>30}: {v}")


if __name__ == "__main__":
    main()
