"""Which backend serves a request, and which API dialect it speaks.

Order (DESIGN.md): the `X-Backend` header, then the first backend whose model
globs match the body's `model`, then a backend whose `path_prefix` starts the
path (the prefix is stripped), then `default_backend`. The backend URL's own
base path is kept: `https://host/openai` + `/v1/chat/completions`.

Paths arrive canonical (`proxy.dialects.canonical_path`); the upstream URL carries
that same path, escaped so the backend's one decoding gives it back.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from proxy import dialects
from proxy.dialects import dialect_of, forward_path
from proxy.errors import UnknownBackend
from proxy.settings import BackendConfig, ProxySettings
from schemas.events import Provider

__all__ = ["Route", "Router"]


@dataclass(frozen=True, slots=True)
class Route:
    """A resolved destination: the backend, the upstream URL and the dialect."""

    backend: BackendConfig
    url: str
    path: str
    provider: Provider
    #: extra upstream headers (injected credentials), lower-case names
    inject: tuple[tuple[str, str], ...]


class Router:
    """Resolve requests to backends; configuration is compiled once here."""

    def __init__(self, settings: ProxySettings) -> None:
        self._by_name = {b.name: b for b in settings.backends}
        if settings.default_backend and settings.default_backend not in self._by_name:
            raise ValueError(f"default_backend {settings.default_backend!r} is not a backend")
        self._default = self._by_name.get(settings.default_backend or "")
        self._globs = [
            (re.compile(fnmatch.translate(g)), b) for b in settings.backends for g in b.models
        ]
        self._prefixes = sorted(
            ((b.path_prefix.rstrip("/"), b) for b in settings.backends if b.path_prefix),
            key=lambda p: -len(p[0]),
        )
        self._inject = {b.name: _credentials(b) for b in settings.backends}
        self._base = {b.name: b.url.rstrip("/") for b in settings.backends}

    def strip_prefix(self, path: str) -> tuple[str, BackendConfig | None]:
        """The path without a backend prefix, and that backend (or None)."""
        for prefix, backend in self._prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return path[len(prefix) :] or "/", backend
        return path, None

    def route(
        self,
        path: str,
        query: str,
        header_backend: str | None,
        model: str | None,
        prefix_backend: BackendConfig | None,
    ) -> Route:
        """Pick the backend for a canonical, prefix-stripped path; raises UnknownBackend."""
        backend: BackendConfig | None = None
        if header_backend:
            backend = self._by_name.get(header_backend)
            if backend is None:
                raise UnknownBackend(f"unknown backend {header_backend!r} in X-Backend")
        if backend is None and model:
            for pattern, candidate in self._globs:
                if pattern.match(model):
                    backend = candidate
                    break
        backend = backend or prefix_backend or self._default
        if backend is None:
            raise UnknownBackend(f"no backend for path {path!r} and model {model!r}")
        url = self._base[backend.name] + forward_path(path)
        if query:
            url += "?" + query
        return Route(
            backend=backend,
            url=url,
            path=path,
            provider=dialect_of(path),
            inject=self._inject[backend.name],
        )


def _credentials(backend: BackendConfig) -> tuple[tuple[str, str], ...]:
    key = backend.api_key.get_secret_value() if backend.api_key is not None else ""
    if not key:  # unset or empty (an env default): nothing to inject
        return ()
    return dialects.get(backend.provider).credentials(key)
