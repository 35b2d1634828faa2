"""Errors raised by the streams worker (the policy engine has its own in `policy/errors.py`).

StreamsError                root
├── StreamsConfigError      bad settings or policy at start-up; not retriable
├── StateError              a table value that cannot be read back; not retriable
├── PublishError            an output (violation, command, dead letter) was not acked;
│                           retriable: the batch is processed again after a restart
└── BrokerResetError        the broker's log was replaced under the worker (restarted
                            empty, topic recreated); retriable: the worker exits and
                            its restart starts on the new log with fresh state
"""

from __future__ import annotations

__all__ = [
    "BrokerResetError",
    "PublishError",
    "StateError",
    "StreamsConfigError",
    "StreamsError",
]


class StreamsError(Exception):
    """Root of every streams worker error."""

    retriable = False


class StreamsConfigError(StreamsError):
    """The worker cannot start with these settings or this policy."""


class StateError(StreamsError):
    """A session state value in a table is corrupt."""


class PublishError(StreamsError):
    """The broker did not acknowledge an output message."""

    retriable = True


class BrokerResetError(StreamsError):
    """A source partition's log was replaced: offsets, tables and changelogs are stale."""

    retriable = True
