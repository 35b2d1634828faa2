"""Which action applies to an entity type on a backend, from settings and policy YAML.

Precedence, most specific first: the backend's per-type action, the global
per-type action, the backend's default, then `default` (remote) or
`local_default` (an Ollama backend on a loopback address).

    # pii.yaml
    default: tokenize
    entities: {CARD: mask, PRIVATE_KEY: block}
    backends:
      local-llama: {default: allow}
    custom_entities:
      EMPLOYEE_ID: ['\\bEMP-\\d{6}\\b']
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from pydantic import ValidationError

from proxy.pii.settings import EntityAction, PIIRules, PIISettings
from proxy.settings import BackendConfig
from streams.policy.entities import check_type_name

__all__ = ["ActionTable", "load_rules"]


def load_rules(path: Path) -> PIIRules:
    """Read a PII policy YAML file; ValueError naming the file and field on bad input."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read PII policy: {exc}") from exc
    try:
        rules = PIIRules.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValueError(f"{path}: {where}: {first['msg']}") from exc
    for name in [*rules.entities, *rules.custom_entities]:
        check_type_name(name)
    return rules


def _merge(file: PIIRules, settings: PIISettings) -> PIIRules:
    """Settings win over the file where both set a value."""
    backends = dict(file.backends)
    backends.update(settings.backends)
    return PIIRules(
        default=settings.default or file.default,
        local_default=settings.local_default or file.local_default,
        entities={**file.entities, **settings.entities},
        backends=backends,
        custom_entities={**file.custom_entities, **settings.custom_entities},
    )


def _is_local(backend: BackendConfig) -> bool:
    host = urlsplit(backend.url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ActionTable:
    """Actions per (backend, entity type), resolved once per backend and cached."""

    def __init__(self, settings: PIISettings) -> None:
        file = load_rules(settings.policy_file) if settings.policy_file else PIIRules()
        self.rules = _merge(file, settings)
        self._cache: dict[str, dict[str, EntityAction]] = {}
        self._defaults: dict[str, EntityAction] = {}

    @property
    def custom_entities(self) -> dict[str, list[str]]:
        return self.rules.custom_entities

    def default_for(self, backend: BackendConfig) -> EntityAction:
        """The backend's action for an entity type nothing names."""
        found = self._defaults.get(backend.name)
        if found is None:
            own = self.rules.backends.get(backend.name)
            if own is not None and own.default is not None:
                found = own.default
            elif backend.provider == "ollama" and _is_local(backend):
                found = self.rules.local_default or "allow"
            else:
                found = self.rules.default or "tokenize"
            self._defaults[backend.name] = found
        return found

    def action(self, backend: BackendConfig, kind: str) -> EntityAction:
        """The action for entity type `kind` on `backend`."""
        per = self._cache.setdefault(backend.name, {})
        found = per.get(kind)
        if found is None:
            own = self.rules.backends.get(backend.name)
            if own is not None and kind in own.entities:
                found = own.entities[kind]
            elif kind in self.rules.entities:
                found = self.rules.entities[kind]
            else:
                found = self.default_for(backend)
            per[kind] = found
        return found

    def all_allowed(self, backend: BackendConfig, kinds: frozenset[str]) -> bool:
        """Whether nothing would change on this backend (skip the scan entirely)."""
        return all(self.action(backend, k) == "allow" for k in kinds)
