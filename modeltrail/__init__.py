"""The `modeltrail` command line: composes proxy, streams, sinks and schemas; owns nothing else."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
