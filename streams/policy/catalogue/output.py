"""Improper output handling (LLM05) and excessive agency (LLM06)."""

from __future__ import annotations

from streams.policy.catalogue._build import rule
from streams.policy.rules import OUTPUT_TARGETS

__all__ = ["RULES"]

_OUT = OUTPUT_TARGETS | {"tool_call"}
_DESTROY = [
    r"\brm\s+(?:-[a-zA-Z]*[rR][a-zA-Z]*[fF][a-zA-Z]*|-[a-zA-Z]*[fF][a-zA-Z]*[rR][a-zA-Z]*|-r\s+-f|-f\s+-r|--recursive\s+--force|--force\s+--recursive)\s+(?:--no-preserve-root\s+)?(?:/|~|\*|\$HOME|\.\s|\.$|/\*)",
    r"\bmkfs(?:\.\w+)?\s+/dev/", r"\bdd\s+if=\S+\s+of=/dev/(?:sd|nvme|hd|xvd|disk)",
    r":\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:", r"\bchmod\s+-R\s+0?777\s+/", r">\s*/dev/sd[a-z]\b",
    r"(?i)\bformat\s+[a-z]:\s*/[qy]", r"(?i)\bRemove-Item\b[^\n]*-Recurse[^\n]*-Force",
]  # fmt: skip

RULES = (
    rule("OUT-001", "Destructive shell command in output (rm -rf /, mkfs, dd to a disk, fork bomb)",
         "LLM05", "high", "flag", OUTPUT_TARGETS, "output", patterns=_DESTROY),
    rule("OUT-002", "Download-and-execute command in output (curl | sh, iwr | iex)", "LLM05", "high", "flag", OUTPUT_TARGETS, "output",
         patterns=[r"\b(?:curl|wget)\s[^|\n]*\|\s*(?:sudo\s+)?(?:ba|z|k|da)?sh\b", r"\b(?:ba)?sh\s+<\(\s*(?:curl|wget)\b",
                   r"(?i)\b(?:iwr|irm|Invoke-WebRequest|Invoke-RestMethod)\b[^|\n]*\|\s*iex\b",
                   r"(?i)\bpowershell(?:\.exe)?\b[^\n]*\s-e(?:nc|ncodedcommand)?\s+[A-Za-z0-9+/=]{20,}"]),
    rule("OUT-003", "Destructive or injected SQL in output (DROP, TRUNCATE, DELETE without WHERE, OR 1=1)",
         "LLM05", "warning", "flag", OUTPUT_TARGETS, "output",
         patterns=[r"(?i)\bdrop\s+(?:table|database|schema)\b", r"(?i)\btruncate\s+table\b",
                   r"(?i)\bdelete\s+from\s+[\w.\"`\[\]]+\s*(?:;|$)", r"(?i)'\s*(?:or|and)\s+'?1'?\s*=\s*'?1", r"'\s*;\s*--"]),
    rule("OUT-004", "Script or HTML injection in output (<script>, javascript:, event handlers)", "LLM05", "high", "flag", OUTPUT_TARGETS, "output",
         patterns=[r"(?i)<script\b", r"(?i)\bjavascript:", r"(?i)<[a-z][^>]*\son(?:error|load|click|mouseover|focus)\s*=",
                   r"(?i)<iframe\b", r"(?i)<(?:img|embed|object)[^>]*\bsrc\s*=\s*[\"']?(?:javascript|data:text/html)"]),
    rule("OUT-005", "Markdown image or link that carries data out in its URL", "LLM05", "high", "block", OUTPUT_TARGETS, "output",
         patterns=[r"!\[[^\]\n]*\]\(\s*https?://[^)\s]+[?&][^)\s=]+=[^)\s&]{12,}",
                   r"\[[^\]\n]*\]\(\s*https?://[^)\s]+[?&](?:q|data|d|p|payload|secret|token|key|info|c|msg|content)=[^)\s&]{24,}\)",
                   r"!\[[^\]\n]*\]\(\s*https?://[^)\s]*(?:\{\{|%7B%7B|\$\{)"]),
    rule("AG-001", "Call of a denied tool (destructive, shell, money movement)", "LLM06", "high", "block", {"tool_call"}, "agency",
         kind="tool", tools=["delete_*", "*_delete", "remove_*", "rm", "exec", "exec_*", "shell", "run_shell*", "execute_command",
                             "bash", "sudo*", "drop_*", "transfer_funds", "send_money", "wire_*", "format_disk"]),
    rule("AG-002", "Path traversal in tool arguments", "LLM06", "high", "block", {"tool_call"}, "agency",
         patterns=[r"(?:\.\./){2,}|(?:\.\.\\){2,}|(?i)%2e%2e(?:%2f|/|%5c)"]),
    rule("AG-003", "Destructive command in tool arguments (rm -rf, mkfs, dd, chmod 777 /)", "LLM06", "critical", "block",
         {"tool_call"}, "agency", patterns=[*_DESTROY, r"\brm\s+-[a-zA-Z]*[rR][a-zA-Z]*[fF]", r"\brm\s+-[a-zA-Z]*[fF][a-zA-Z]*[rR]"]),
    rule("AG-004", "Sensitive file in tool arguments (/etc/shadow, ~/.ssh, cloud credentials, .env)", "LLM06", "high", "block",
         {"tool_call"}, "agency",
         patterns=[r"/etc/(?:passwd|shadow|sudoers|gshadow)\b", r"\.ssh/(?:id_\w+|authorized_keys|config)\b", r"\.aws/credentials\b",
                   r"\.config/gcloud/", r"\.kube/config\b", r"\.git-credentials\b", r"\.netrc\b", r"(?:^|[/\s\"'])\.env(?:\.\w+)?\b",
                   r"(?i)\\windows\\system32\\config\\sam\b"]),
    rule("AG-005", "Network egress command in tool arguments (curl/wget/nc/scp to a host)", "LLM06", "warning", "flag",
         {"tool_call"}, "agency",
         patterns=[r"\b(?:curl|wget|nc|ncat|netcat|scp|rsync|ftp)\b[^\n]*(?:https?://|\b\d{1,3}(?:\.\d{1,3}){3}\b|\w@[\w.-]+:)"]),
    rule("AG-006", "Tool-call fan-out: too many tool calls in one model turn", "LLM06", "warning", "flag", {"tool_call"}, "agency",
         kind="volume", metric="tool_calls_per_event", threshold=16),
    rule("AG-007", "Too many tool calls in one session", "LLM06", "high", "flag", {"session"}, "agency",
         kind="volume", metric="tool_calls_total", threshold=500),
)  # fmt: skip
