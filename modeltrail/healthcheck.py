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

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from schemas.settings import KafkaSettings

__all__ = ["group_stable", "http_ok", "main"]


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether GET url answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def describe_ok(description: dict[str, object], group_id: str) -> bool:
    """Whether a DescribeGroups result says `group_id` is Stable with members."""
    groups = description.get("groups")
    if not isinstance(groups, list):
        return False
    for group in groups:
        if isinstance(group, dict) and group.get("group") == group_id:
            members = group.get("members")
            return (
                group.get("error_code") == 0
                and group.get("state") == "Stable"
                and isinstance(members, list)
                and len(members) > 0
            )
    return False


async def group_stable(settings: KafkaSettings, group_id: str, timeout_s: float = 5.0) -> bool:
    """Whether the consumer group is Stable with at least one member."""
    admin = AIOKafkaAdminClient(
        **settings.client_kwargs(), request_timeout_ms=int(timeout_s * 1000)
    )  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        responses = await asyncio.wait_for(admin.describe_consumer_groups([group_id]), timeout_s)
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await admin.close()
    return any(describe_ok(r.to_object(), group_id) for r in responses)


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
