"""Polling with a deadline, for tests that wait on something with no event to await.

`from tests.support.polling import wait_until`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

__all__ = ["wait_until"]


async def wait_until(
    cond: Callable[[], object | Awaitable[object]],
    timeout_s: float = 5.0,
    what: str = "the condition",
    *,
    interval_s: float = 0.05,
) -> float:
    """Poll `cond` (plain or async) until it is truthy; returns the seconds it took.

    Raises:
        AssertionError: still false after `timeout_s`, naming `what`.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        result = cond()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return loop.time() - start
        if loop.time() - start > timeout_s:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(interval_s)
