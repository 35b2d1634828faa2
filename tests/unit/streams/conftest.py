"""Fixtures for the streams worker's unit tests."""

from __future__ import annotations

import pytest

from tests.support.streams_fakes import TinyEngine


@pytest.fixture
def engine() -> TinyEngine:
    return TinyEngine()
