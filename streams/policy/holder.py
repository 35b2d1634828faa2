"""Atomic hot reload: readers take `holder.engine`, `reload()` swaps in a validated new one."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from streams.policy.config import load_policy
from streams.policy.engine import PolicyEngine

__all__ = ["PolicyHolder"]


class PolicyHolder:
    """Holds the live engine; a reload builds and validates first, then swaps one reference.

    A reader that took `engine` keeps a consistent rule set for its whole event.
    A failed reload raises and leaves the live engine untouched.
    """

    def __init__(
        self,
        preset: str = "standard",
        files: Sequence[Path] = (),
        engine: PolicyEngine | None = None,
    ) -> None:
        self.preset = preset
        self.files = tuple(Path(f) for f in files)
        self._lock = threading.Lock()
        self._engine = engine if engine is not None else load_policy(preset, self.files)

    @property
    def engine(self) -> PolicyEngine:
        """The live engine."""
        return self._engine

    def reload(
        self, preset: str | None = None, files: Sequence[Path] | None = None
    ) -> PolicyEngine:
        """Load, validate and swap; returns the new engine (raises `PolicyValidationError`)."""
        with self._lock:
            new_preset = preset or self.preset
            new_files = tuple(Path(f) for f in files) if files is not None else self.files
            engine = load_policy(new_preset, new_files)
            self.preset, self.files, self._engine = new_preset, new_files, engine
            return engine

    def swap(self, engine: PolicyEngine) -> None:
        """Install an engine built elsewhere."""
        with self._lock:
            self._engine = engine
