"""Shared engines for the policy tests (compiled once per session: they are immutable)."""

from __future__ import annotations

import pytest

from streams.policy import PolicyEngine


@pytest.fixture(scope="session")
def standard() -> PolicyEngine:
    return PolicyEngine.load("standard")


@pytest.fixture(scope="session")
def strict() -> PolicyEngine:
    return PolicyEngine.load("strict")
