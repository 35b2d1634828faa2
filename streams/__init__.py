"""The streams worker: a faust app that judges proxy events against policy, keeps
per-session state in changelog-backed tables and publishes violations and kill commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streams.decisions import THRESHOLD_RULE_ID, Engine, Judgement, decision_id, judge
from streams.errors import PublishError, StateError, StreamsConfigError, StreamsError
from streams.processor import BatchResult, Output, Processor, EventRecord
from streams.settings import StreamsSettings
from streams.state import SessionState
from streams.state_cache import SessionStateCache

if TYPE_CHECKING:
    from streams.app import SESSIONS_TABLE, StreamsApp, create_app, load_policy

_LAZY = {"SESSIONS_TABLE", "StreamsApp", "create_app", "load_policy"}

__all__ = [
    "SESSIONS_TABLE",
    "THRESHOLD_RULE_ID",
    "BatchResult",
    "Engine",
    "Judgement",
    "Output",
    "Processor",
    "PublishError",
    "EventRecord",
    "SessionState",
    "SessionStateCache",
    "StateError",
    "StreamsApp",
    "StreamsConfigError",
    "StreamsError",
    "StreamsSettings",
    "create_app",
    "decision_id",
    "judge",
    "load_policy",
]


def __getattr__(name: str) -> Any:
    # faust is heavy: importing `streams.policy` (the proxy and the CLI do) must not load it.
    if name in _LAZY:
        from streams import app

        return getattr(app, name)
    raise AttributeError(f"module 'streams' has no attribute {name!r}")
