"""`cancel_and_wait`: a background task is gone in bounded time, even one that shrugs off
a cancellation (as aiokafka's fetcher has done), so a shutdown cannot hang on it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import pytest

from proxy.tasks import cancel_and_wait


async def _stubborn(times: int, log: list[str], relent: asyncio.Event | None = None) -> None:
    """Swallows the first `times` cancellations (all of them until `relent` is set), then
    lets the next one through."""
    swallowed = 0
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if swallowed == times or (relent is not None and relent.is_set()):
                log.append("cancelled")
                raise
            swallowed += 1
            log.append("swallowed")


async def test_a_plain_task_is_cancelled_at_once() -> None:
    task = asyncio.create_task(asyncio.sleep(3600))
    started = time.monotonic()
    assert await cancel_and_wait(task)
    assert task.cancelled() and time.monotonic() - started < 1.0  # one loop turn; slack for CI


async def test_a_task_that_swallows_cancellations_is_cancelled_again() -> None:
    log: list[str] = []
    task = asyncio.create_task(_stubborn(2, log))
    await asyncio.sleep(0)
    assert await cancel_and_wait(task, timeout_s=5)
    assert task.cancelled() and log == ["swallowed", "swallowed", "cancelled"]


async def test_a_task_that_never_ends_is_given_up_on_after_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[str] = []
    relent = asyncio.Event()
    task = asyncio.create_task(_stubborn(-1, log, relent), name="deaf")
    await asyncio.sleep(0)
    started = time.monotonic()
    assert not await cancel_and_wait(task, timeout_s=0.6)
    assert 0.5 < time.monotonic() - started < 3.0  # bounded: slack for a loaded CI machine
    assert any(r.message == "task_stop_timeout" and r.task == "deaf" for r in caplog.records)  # type: ignore[attr-defined]
    assert len(log) >= 2  # it was asked more than once
    relent.set()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_a_failed_task_is_reported_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def boom() -> None:
        raise RuntimeError("broken")

    task = asyncio.create_task(boom(), name="boom")
    await asyncio.sleep(0)
    caplog.set_level(logging.WARNING)
    assert await cancel_and_wait(task)
    assert any(r.message == "task_failed_on_stop" for r in caplog.records)
    assert await cancel_and_wait(None)


async def test_cancelling_the_caller_still_cancels_the_caller() -> None:
    log: list[str] = []
    relent = asyncio.Event()
    inner = asyncio.create_task(_stubborn(-1, log, relent))
    outer = asyncio.create_task(cancel_and_wait(inner, timeout_s=30))
    await asyncio.sleep(0.05)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    relent.set()
    inner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await inner
