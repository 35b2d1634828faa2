"""The one way the proxy builds a Redis client (session store, PII vault, key counters).

redis-py's asyncio client keeps pooled connections and, as built by `from_url`
alone, does not retry a command whose connection turns out dead. After a Redis
restart the first command on each pooled connection then failed ("Connection
closed by server"): the PII vault answered 503 to a request carrying a secret, and
that request never reached the audit trail (found by `bench/chaos.py`, Redis
scenario). Here a command that fails on a dead or timed-out connection is retried
on a fresh one, a few times with a short backoff, and an idle connection is
checked before it is used again.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

__all__ = ["RETRIES", "connect"]

RETRIES = 3


def connect(url: str, **kwargs: Any) -> Redis:
    """`Redis.from_url(url, **kwargs)` with retries on dead connections."""
    return Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.02), RETRIES),
        retry_on_error=[ConnectionError, TimeoutError],
        health_check_interval=15,
        **kwargs,
    )
