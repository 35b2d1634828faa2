"""Lazy package exports: a package `__init__` names where each public name lives, and
the module holding it is imported on first access (PEP 562 `__getattr__`).

Used by `schemas` (pyarrow) and `streams` (faust) so a light import never loads them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` resolving `where[name]` (a module path) on first use."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__
