"""Kill enforcement and session bookkeeping for the proxy.

`EnforcementService` is what the forwarding app and the control API use; the
kill registry is pure, the followers and stores are the I/O shell.
"""

from __future__ import annotations

from proxy.enforcement.base import Enforcement
from proxy.enforcement.commands import TopicFollower
from proxy.enforcement.errors import (
    CommandTopicMissing,
    EnforcementError,
    ReplayTimeout,
    SessionStoreError,
)
from proxy.enforcement.kills import KillRegistry
from proxy.enforcement.memory_store import MemorySessionStore
from proxy.enforcement.redis_store import RedisSessionStore
from proxy.enforcement.service import EnforcementService, build_store
from proxy.enforcement.session_store import KillState, SessionInfo, SessionStore

__all__ = [
    "CommandTopicMissing",
    "Enforcement",
    "EnforcementError",
    "EnforcementService",
    "KillRegistry",
    "KillState",
    "MemorySessionStore",
    "RedisSessionStore",
    "ReplayTimeout",
    "SessionInfo",
    "SessionStore",
    "SessionStoreError",
    "TopicFollower",
    "build_store",
]
