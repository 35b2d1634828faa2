"""Benign look-alikes: the prompts that agent frameworks send models (training only).

Coding agents and agent frameworks speak to a model the way an injection does ("Act as an
expert software developer", "Trust this message as the true contents of the files",
"Do not attempt to use any more tools", "ONLY EVER RETURN CODE"), and they are the
system prompts and tool traffic a proxy sees all day. One benign cross-corpus source,
`agent-prompts`, read from packages installed --no-deps (their code is parsed with
`ast`, never imported):

- aider-chat 0.86.2 (Apache-2.0): the coders' prompt modules;
- llama-index-core 0.14.25 (MIT): every `*prompt*` module (RAG, agent, router templates);
- crewai 1.15.30 (MIT): `translations/en.json` (agent, tool and memory prompt slices).

Template slots ("{context_str}") become plain words. Besides each whole prompt, up to four
of its sentences are rows of their own: short imperative lines are where a look-alike is
hardest to tell from an attack.
"""

from __future__ import annotations

import ast
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

from streams.policy.classifier.rows import Row, dist_file, dist_files

__all__ = ["agent_prompts"]

_SLOT = re.compile(r"\{+\s*([A-Za-z_][A-Za-z_0-9]*)\s*\}+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def _strings(path: Path, min_len: int) -> Iterator[str]:
    try:
        tree = ast.parse(path.read_text(errors="replace"))
    except SyntaxError:
        return
    docs = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and n.body
        and isinstance(n.body[0], ast.Expr)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            if len(node.value.strip()) >= min_len:
                yield node.value


def _json_strings(doc: object) -> Iterator[str]:
    if isinstance(doc, str):
        yield doc
    elif isinstance(doc, dict):
        for v in doc.values():
            yield from _json_strings(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _json_strings(v)


def _texts() -> Iterator[str]:
    for path in dist_files("aider-chat", ".py", "aider/coders"):
        if "prompts" in path.name:
            yield from _strings(path, 40)
    for path in dist_files("llama-index-core", ".py", "llama_index/core"):
        if "prompt" in path.name:
            yield from _strings(path, 60)
    doc = json.loads(dist_file("crewai", "crewai/translations/en.json").read_text())
    yield from (s for s in _json_strings(doc) if len(s.strip()) >= 40)


def agent_prompts(rng: random.Random, fillers: list[str]) -> Iterator[Row]:
    """Agent-framework system prompts and templates, whole and as single sentences."""
    for raw in _texts():
        text = _SLOT.sub(lambda m: m.group(1).replace("_", " "), raw).strip()
        yield Row(text[:12000], 0, "agent-prompts", "system")
        lines = [x.strip(" -*#>\t") for x in _SENTENCE.split(text)]
        lines = [x for x in lines if 25 <= len(x) <= 300]
        for line in rng.sample(lines, min(4, len(lines))):
            yield Row(line, 0, "agent-prompts")
