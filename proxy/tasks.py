"""Stopping a background task in bounded time.

`task.cancel(); await task` waits forever when something inside the task swallows the
cancellation and carries on (aiokafka has done so while a fetch was in its retry
backoff: `schemas.kafka.stop_consumer`). A proxy that then never finishes its shutdown
holds its port and its Kafka connections until it is killed. `cancel_and_wait` cancels
again each time the task shrugs it off, and gives up, saying so, after a deadline.
"""

from __future__ import annotations

import asyncio
import logging

__all__ = ["cancel_and_wait"]

log = logging.getLogger(__name__)

#: How long one cancellation is given before it is repeated.
_RETRY_S = 0.25


async def cancel_and_wait(task: asyncio.Task[object] | None, timeout_s: float = 5.0) -> bool:
    """Cancel `task` until it is done, for at most `timeout_s`; True when it ended.

    The task's own outcome (cancelled, an exception, a result) is consumed, not raised: a
    caller stopping a service wants it gone. Cancelling the caller still cancels the caller.
    """
    if task is None:
        return True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not task.done():
        task.cancel()
        left = deadline - loop.time()
        if left <= 0:
            log.error("task_stop_timeout", extra={"task": task.get_name(), "timeout_s": timeout_s})
            return False
        await asyncio.wait({task}, timeout=min(_RETRY_S, left))
    if not task.cancelled() and task.exception() is not None:
        log.warning(
            "task_failed_on_stop", extra={"task": task.get_name(), "error": repr(task.exception())}
        )
    return True
