"""The canonical form of a request path: what is judged is what is forwarded.

A backend decodes percent-escapes, resolves `.` and `..` and (often) collapses
repeated slashes before routing, so `/v1/%63hat/completions`,
`/v1/x/../chat/completions` and `//v1//chat/completions` all reach its chat
handler. The proxy classifies the canonical path and forwards exactly that path
re-encoded (`forward_path`), so one decoding by the backend gives back the
path that was judged and no second reading can differ from the proxy's.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

__all__ = ["canonical_path", "forward_path"]

_SLASHES = re.compile(r"/{2,}")
# RFC 3986 pchar minus "%": what may stay unescaped in a path segment.
_SAFE = "/:@!$&'()*+,;="


def canonical_path(raw: str) -> str:
    """Percent-decoded (once, as a backend does), dot-segments resolved, slashes collapsed.

    Always starts with `/`; a trailing slash is kept (`/v1/models/` stays).
    Backslashes count as slashes: some servers read them so.
    """
    path = unquote(raw, errors="replace").replace("\\", "/")
    path = _SLASHES.sub("/", "/" + path)
    if "." not in path:
        return path
    out: list[str] = []
    segments = path.split("/")[1:]
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        elif seg == ".":
            if last:
                out.append("")
        else:
            out.append(seg)
    return "/" + "/".join(out)


def forward_path(canonical: str) -> str:
    """The canonical path escaped so that one decoding gives it back exactly."""
    return quote(canonical, safe=_SAFE)
