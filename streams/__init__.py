"""The streams worker: a faust app that judges proxy events against policy, keeps
per-session state in changelog-backed tables and publishes violations and kill commands.

Names load on first use: the proxy and the CLI import `streams.policy` and must not pay
for faust, the processor or the state tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas.lazy import lazy_exports

if TYPE_CHECKING:
    from streams.app import SESSIONS_TABLE, StreamsApp, create_app, load_policy_holder
    from streams.decisions import THRESHOLD_RULE_ID, Engine, Judgement, decision_id, judge
    from streams.errors import PublishError, StateError, StreamsConfigError, StreamsError
    from streams.processor import BatchResult, EventRecord, Output, Processor
    from streams.settings import StreamsSettings
    from streams.state import SessionState
    from streams.state_cache import SessionStateCache

__all__ = [
    "SESSIONS_TABLE",
    "THRESHOLD_RULE_ID",
    "BatchResult",
    "Engine",
    "EventRecord",
    "Judgement",
    "Output",
    "Processor",
    "PublishError",
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
    "load_policy_holder",
]

# Where each public name lives; imported on first access.
_WHERE = {
    "SESSIONS_TABLE": "streams.app",
    "StreamsApp": "streams.app",
    "create_app": "streams.app",
    "load_policy_holder": "streams.app",
    "THRESHOLD_RULE_ID": "streams.decisions",
    "Engine": "streams.decisions",
    "Judgement": "streams.decisions",
    "decision_id": "streams.decisions",
    "judge": "streams.decisions",
    "PublishError": "streams.errors",
    "StateError": "streams.errors",
    "StreamsConfigError": "streams.errors",
    "StreamsError": "streams.errors",
    "BatchResult": "streams.processor",
    "EventRecord": "streams.processor",
    "Output": "streams.processor",
    "Processor": "streams.processor",
    "StreamsSettings": "streams.settings",
    "SessionState": "streams.state",
    "SessionStateCache": "streams.state_cache",
}

__getattr__ = lazy_exports(__name__, _WHERE)
