"""No modeltrail client ever makes a broker create a topic by naming it.

aiokafka 0.14.0 (pinned exactly) sends every Metadata request (v4+) with
`allow_auto_topic_creation=True` and has no option to turn it off. A broker that
auto-creates (Tansu always; Kafka by default) then makes any topic a client asks
about, with the broker's partition count and no topic configs. Seen after the
embedded memory broker restarted empty: the proxy's producer, reconnecting with its
old metadata, created the `llm.*` topics with Tansu's four partitions before `up`
created them with three, and the streams worker, whose tables are partitioned like
its sources, judged nothing more. A compacted topic (`session.commands`) made that
way is not compacted either.

`apply()` makes aiokafka's default False; it is called by
`KafkaSettings.client_kwargs()`, which every client modeltrail builds goes through,
and by the streams worker before faust builds its own. Topics are made only by
`schemas.kafka.ensure_topics` (and faust for its changelogs), with their settings.
A producer asking about a topic that does not exist gets UnknownTopicOrPartition
and keeps the events (spool) until the topic is there.
"""

from __future__ import annotations

import functools

from aiokafka.protocol.metadata import MetadataRequest

__all__ = ["apply"]

_upstream_init = MetadataRequest.__init__


@functools.wraps(_upstream_init)
def _init(
    self: MetadataRequest,
    topics: list[str] | None = None,
    allow_auto_topic_creation: bool | None = None,
) -> None:
    _upstream_init(self, topics, bool(allow_auto_topic_creation))


def apply() -> None:
    """Make `allow_auto_topic_creation` default to False in every Metadata request. Idempotent."""
    MetadataRequest.__init__ = _init  # type: ignore[method-assign]
