"""Supply chain, poisoning, retrieval and misinformation rules a proxy can see.

- LLM03 supply chain: a request for a model or backend outside an allow-list;
  an answer telling the user to install a package outside an allow-list.
- LLM04 data and model poisoning: text that asks the assistant to store an
  instruction in its memory or knowledge base for later conversations.
- LLM08 vector and embedding weaknesses: instructions hidden in retrieved
  documents (HTML comments, invisible styling); secrets or personal data sent to
  an embeddings endpoint, where they persist in a vector store.
- LLM09 misinformation: an answer asserting a URL whose host the policy does not
  mark verified.
Allow-lists default to "everything" where the rule would otherwise fire on all
traffic; a policy file narrows them (`overrides: {SC-001: {allow: [gpt-4o*]}}`).
"""

from __future__ import annotations

from streams.policy.catalogue._build import UNTRUSTED_ROLES, rule
from streams.policy.rules import OUTPUT_TARGETS

__all__ = ["RULES"]

# Well-known documentation and registry hosts; anything else in an answer is unverified.
VERIFIED_HOSTS = (
    "github.com", "*.github.com", "*.github.io", "python.org", "*.python.org", "pypi.org",
    "npmjs.com", "*.npmjs.com", "developer.mozilla.org", "*.wikipedia.org", "learn.microsoft.com",
    "docs.aws.amazon.com", "cloud.google.com", "kubernetes.io", "*.readthedocs.io",
    "example.com", "*.example.com", "localhost", "127.0.0.1",
)  # fmt: skip
_PKG = r"((?:@[\w.-]+/)?[A-Za-z0-9][\w.-]*)"

RULES = (
    rule(
        "SC-001", "Supply chain: request for a model outside the allow-list",
        "LLM03", "high", "block", {"request"}, "agency", kind="allowlist", subject="model",
        allow=("*",),
    ),
    rule(
        "SC-002", "Supply chain: request routed to a backend outside the allow-list",
        "LLM03", "high", "block", {"request"}, "agency", kind="allowlist", subject="backend",
        allow=("*",),
    ),
    rule(
        "SC-003", "Supply chain: answer tells the user to install a package outside the allow-list",
        "LLM03", "warning", "flag", OUTPUT_TARGETS, "output",
        patterns=[
            r"(?i)\b(?:pip3?|pipx|uv\s+pip|poetry|conda|npm|pnpm|yarn|bun|gem|cargo)\s+(?:install|add|i)\s+(?:-{1,2}[\w-]+(?:=\S+)?\s+)*" + _PKG,
            r"(?i)\bgo\s+(?:get|install)\s+(?:-[\w-]+\s+)*([\w.-]+/[\w./@-]+)",
        ],
        allow=("requirements.txt", "-r", "-e", "."),
    ),
    rule(
        "PO-001", "Poisoning: text asks the assistant to store an instruction for future conversations",
        "LLM04", "high", "block", {"request"}, "injection", roles=UNTRUSTED_ROLES,
        patterns=[
            r"(?i)\b(?:remember|memori[sz]e|store|save|record|learn)\b(?:\W+\w+){0,6}?\W+(?:for|in|across)\W+(?:all\W+)?(?:future|later|subsequent|every\W+(?:future\W+)?)\W*(?:conversations?|sessions?|chats?|users?|interactions?)\b",
            r"(?i)\b(?:add|write|insert|store|save)\b(?:\W+\w+){0,4}?\W+(?:to|in|into)\W+(?:your\W+)?(?:long-?term\W+memory|permanent\W+memory|knowledge\W+base|memory\W+bank|training\W+data)\b",
            r"(?i)\bwhenever\W+(?:anyone|any\W+user|someone|a\W+user|users)\W+(?:\w+\W+){0,6}?(?:asks?|mentions?|queries)\b(?:\W+\w+){0,12}?\W+(?:always\W+)?(?:say|answer|respond|reply|recommend|tell\W+them)\b",
        ],
    ),
    rule(
        "RAG-001", "Retrieved document hides instructions (HTML comment, invisible styling)",
        "LLM08", "high", "block", {"request"}, "injection", roles={"tool", "function"},
        patterns=[
            r"(?is)<!--[^>]*?\b(?:ignore|disregard|assistant|ai\s+agent|instructions?|system\s+prompt|you\s+must|do\s+not\s+(?:tell|mention|reveal))\b",
            r"(?is)(?:display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?:px|pt|em)?\b|color\s*:\s*(?:#fff(?:fff)?\b|white\b))[^<]*?\b(?:ignore|assistant|instructions?|system\s+prompt|you\s+must)\b",
        ],
    ),
    rule(
        "EMB-001", "Secrets or personal data sent to an embeddings endpoint (they persist in a vector store)",
        "LLM08", "high", "flag", {"request"}, "secrets", kind="derived",
        of_rules=("SEC-*", "PII-*"), paths=("*/embeddings", "*/embed", "/api/embed*"),
    ),
    rule(
        "MI-001", "Misinformation risk: answer asserts a URL on a host the policy does not mark verified",
        "LLM09", "info", "flag", OUTPUT_TARGETS, "output",
        patterns=[r"(?i)\bhttps?://((?:[a-z0-9-]+\.)+[a-z]{2,}|localhost|\d{1,3}(?:\.\d{1,3}){3})\b"],
        allow=VERIFIED_HOSTS,
    ),
)  # fmt: skip
