"""`python -m modeltrail.embedded.fake_backend --host 127.0.0.1 --port 8000 [--latency-ms 0]`."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from modeltrail.embedded.fake_backend.app import create_app
from modeltrail.embedded.fake_backend.streaming import ConnectionDropped


class _HideDrops(logging.Filter):
    """A drop is what the client asked for (`X-Fake-Drop`), not an error worth a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


def main(argv: list[str] | None = None) -> None:
    """Serve the fake with uvloop and httptools, no access log."""
    parser = argparse.ArgumentParser(
        prog="python -m modeltrail.embedded.fake_backend", description=__doc__
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before first byte")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    config = uvicorn.Config(
        create_app(latency_ms=args.latency_ms),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level=args.log_level,
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    logging.getLogger("uvicorn.error").addFilter(_HideDrops())
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
