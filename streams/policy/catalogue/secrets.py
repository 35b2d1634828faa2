"""Secrets and credentials in prompts, outputs and tool arguments (LLM02).

Vendor tokens are matched by their documented shapes (fixed prefixes, lengths,
checksummed suffixes); a generic token only counts next to a key-like name
and with enough entropy, so UUIDs, hashes and placeholders do not fire.
"""

from __future__ import annotations

from streams.policy.catalogue._build import rule
from streams.policy.rules import ALL_TARGETS

__all__ = ["RULES"]

_T = ALL_TARGETS - {"session"}

RULES = (
    rule("SEC-001", "AWS access key id or secret access key", "LLM02", "critical", "block", _T, "secrets", mask="secret",
         patterns=[r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[0-9A-Z]{16}\b",
                   r"(?i)aws[\w\s\"'.-]{0,20}(?:secret|access)[\w\s\"'.-]{0,20}[=:>]\s*[\"']?[A-Za-z0-9/+]{40}"]),
    rule("SEC-002", "Google Cloud API key, OAuth token or service-account key", "LLM02", "critical", "block", _T, "secrets", mask="secret",
         patterns=[r"\bAIza[0-9A-Za-z_-]{35}", r"\bya29\.[0-9A-Za-z_-]{20,}", r"\bGOCSPX-[A-Za-z0-9_-]{28}\b",
                   r"\"type\"\s*:\s*\"service_account\"[^}]*\"private_key\""]),
    rule("SEC-003", "Azure storage key, connection string, SAS signature or client secret", "LLM02", "critical", "block", _T, "secrets", mask="secret",
         patterns=[r"DefaultEndpointsProtocol=https?;AccountName=[^;\s]+;AccountKey=[A-Za-z0-9+/=]{40,}",
                   r"(?i)[?&]sig=[A-Za-z0-9%+/]{30,}={0,2}",
                   r"(?i)azure[\w\s\"'.-]{0,25}(?:secret|key|password)[\w\"'-]{0,5}\s*[=:]\s*[\"']?[A-Za-z0-9_~.+/-]{30,}",
                   r"\b[A-Za-z0-9_~.-]{3}8Q~[A-Za-z0-9_~.-]{31,34}\b"]),
    rule("SEC-004", "GitHub token", "LLM02", "critical", "block", _T, "secrets", mask="secret",
         patterns=[r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b", r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b"]),
    rule("SEC-005", "GitLab token", "LLM02", "critical", "block", _T, "secrets", mask="secret",
         patterns=[r"\bgl(?:pat|dt|rt|ptt|cbt|soat|ft|imt|agent)-[A-Za-z0-9_-]{20,}"]),
    rule("SEC-006", "Slack token or webhook", "LLM02", "critical", "block", _T, "secrets", mask="secret",
         patterns=[r"\bxox[abposre]-[A-Za-z0-9-]{10,}", r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"]),
    rule("SEC-007", "Stripe secret, restricted or webhook key", "LLM02", "critical", "block", _T, "secrets", mask="secret",
         patterns=[r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{24,}\b", r"\bwhsec_[A-Za-z0-9]{32,}\b"]),
    rule("SEC-008", "OpenAI API key", "LLM02", "critical", "block", _T, "secrets", mask="secret",
         patterns=[r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}T3BlbkFJ[A-Za-z0-9_-]{16,}",
                   r"\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}", r"\bsk-[A-Za-z0-9]{48}\b"]),
    rule("SEC-009", "Anthropic API key", "LLM02", "critical", "block", _T, "secrets", mask="secret",
         patterns=[r"\bsk-ant-(?:api|admin|oat)\d{2}-[A-Za-z0-9_-]{32,}"]),
    rule("SEC-010", "JSON Web Token", "LLM02", "high", "flag", _T, "secrets", mask="secret",
         patterns=[r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"]),
    rule("SEC-011", "Private key block (RSA, EC, DSA, OpenSSH, PGP)", "LLM02", "critical", "block", _T, "secrets", mask="secret",
         patterns=[r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----"]),
    rule("SEC-012", "Connection string or URL with an embedded password", "LLM02", "critical", "block", _T, "secrets", mask="secret",
         patterns=[r"\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|ftps?|smtps?|ldaps?|https?)://[^\s:/@\"']{1,64}:[^\s@/\"']{3,128}@[^\s/\"']+",
                   r"(?i)\b(?:server|data source|host)=[^;\n]+;[^\n]*\b(?:password|pwd)=[^;\s]{4,}"]),
    rule("SEC-013", "High-entropy token assigned to a key-like name (api_key=..., secret: ...)", "LLM02", "high", "block", _T, "secrets",
         mask="secret", validator="high_entropy",
         patterns=[r"(?i)\b(?:api[_-]?key|apikey|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|bearer|token|passw(?:or)?d|client[_-]?secret|private[_-]?key|credentials?)[\"']?\s*(?:[:=]|=>)?\s*[\"']?[A-Za-z0-9_\-/+.=~]{16,}"]),
    rule("SEC-015", "Password assigned in text or config (password=..., pwd: ...)", "LLM02", "high", "block", _T, "secrets",
         mask="secret", validator="password",
         patterns=[r"(?i)\b(?:passw(?:or)?d|pwd|passphrase)[\"']?\s*(?:[:=]|=>)\s*[\"']?[^\s\"'`,;]{8,}"]),
    rule("SEC-014", "Other SaaS tokens (Hugging Face, npm, PyPI, SendGrid, Twilio, Mailgun, Shopify, Datadog)", "LLM02", "critical", "block", _T, "secrets", mask="secret",
         patterns=[r"\bhf_[A-Za-z0-9]{34,}\b", r"\bnpm_[A-Za-z0-9]{36}\b", r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}",
                   r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b", r"\bSK[0-9a-fA-F]{32}\b", r"\bkey-[0-9a-zA-Z]{32}\b",
                   r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b", r"\bdd(?:api|app)_[A-Za-z0-9]{30,}"]),
)  # fmt: skip
