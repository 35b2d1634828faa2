"""A fast fake OpenAI / Anthropic / Ollama backend for tests, demos and benchmarks.

Run it with `python -m modeltrail.embedded.fake_backend --host 127.0.0.1 --port 8000`. Request headers
script its behaviour: `X-Fake-Reply`, `X-Fake-Chunks`, `X-Fake-Chunk-Delay-Ms`,
`X-Fake-Latency-Ms`, `X-Fake-Status`, `X-Fake-Timeout`, `X-Fake-Malformed-SSE`,
`X-Fake-Drop`; the last user message may carry `fake-reply:TEXT` or
`fake-tool:NAME {json args}`. `GET /_fake/last` shows the last request it received,
`GET /_fake/received` every recent body; `X-Fake-Split: chars` streams the reply in
pieces that may cut any word.
"""

from __future__ import annotations

from modeltrail.embedded.fake_backend.app import create_app
from modeltrail.embedded.fake_backend.streaming import ConnectionDropped

__all__ = ["ConnectionDropped", "create_app"]
