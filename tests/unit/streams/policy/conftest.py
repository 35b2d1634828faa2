"""Shared engines for the policy tests (compiled once per session: they are immutable)."""

from __future__ import annotations

import pytest

from streams.policy import PolicyEngine, load_policy


@pytest.fixture(scope="session")
def standard() -> PolicyEngine:
    return load_policy("standard")


@pytest.fixture(scope="session")
def strict() -> PolicyEngine:
    return load_policy("strict")
