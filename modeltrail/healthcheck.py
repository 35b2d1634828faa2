"""Container healthchecks: `python -m modeltrail.healthcheck http URL | group GROUP_ID`.

`http` passes when the URL answers 200 (the proxy's `/control/health`). `group`
passes when the Kafka consumer group is `Stable` with at least one member: the
streams worker and the sink are healthy when they hold their partitions. The
broker comes from `MODELTRAIL_KAFKA__*` like every service. Exit 0 healthy, 1 not.
"""

from __future__ import annotations

import asyncio
import sys
import urllib.error
import urllib.request

from schemas.kafka import describe_ok, group_stable
from schemas.settings import KafkaSettings

__all__ = ["describe_ok", "group_stable", "http_ok", "main"]


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether GET url answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    """Run one check from the command line; the exit code is the verdict."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("http", "group"):
        print("usage: python -m modeltrail.healthcheck http URL | group GROUP_ID", file=sys.stderr)
        return 2
    kind, target = args
    ok = http_ok(target) if kind == "http" else asyncio.run(group_stable(KafkaSettings(), target))
    print("healthy" if ok else "unhealthy")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
