"""faust and aiokafka behind one guarded boundary: versions, upstream sources, internals."""

from __future__ import annotations

import ast
import re
from importlib import metadata
from pathlib import Path

import pytest

from streams import faust_compat
from streams.errors import StreamsConfigError

STREAMS = Path(faust_compat.__file__).parent
PYPROJECT = STREAMS.parent / "pyproject.toml"


@pytest.mark.parametrize("dist", sorted(faust_compat.PINNED))
def test_installed_versions_are_the_ones_the_patches_were_written_for(dist: str) -> None:
    assert metadata.version(dist) == faust_compat.PINNED[dist]
    pin = re.search(rf'"{re.escape(dist)}==([^"]+)"', PYPROJECT.read_text())
    assert pin is not None and pin.group(1) == faust_compat.PINNED[dist], "pin it exactly"


@pytest.mark.parametrize("name", sorted(faust_compat.UPSTREAM_SOURCES))
def test_upstream_functions_are_unchanged(name: str) -> None:
    """A new faust/aiokafka release that touches one of these must be reviewed by hand."""
    func = faust_compat.upstream_functions()[name]
    assert faust_compat.source_hash(func) == faust_compat.UPSTREAM_SOURCES[name], (
        f"{name} changed upstream: re-read streams/faust_compat.py against the new source"
    )


def test_every_hashed_function_is_resolvable() -> None:
    assert set(faust_compat.upstream_functions()) == set(faust_compat.UPSTREAM_SOURCES)


def test_start_up_check_passes_here_and_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    faust_compat.check()
    monkeypatch.setitem(faust_compat.PINNED, "aiokafka", "9.9.9")
    monkeypatch.setattr(
        faust_compat, "_PRIVATE", [*faust_compat._PRIVATE, (StreamsConfigError, ("_gone",))]
    )
    with pytest.raises(StreamsConfigError) as info:
        faust_compat.check()
    assert "aiokafka 0.14.0 installed, streams.faust_compat needs 9.9.9" in str(info.value)
    assert "StreamsConfigError._gone no longer exists" in str(info.value)


#: Modules of faust and aiokafka whose insides are not their public API.
_INTERNAL_MODULES = (
    "faust.transport",
    "faust.tables",
    "faust.sensors",
    "faust.channels",
    "faust.stores",
    "aiokafka.consumer",
    "aiokafka.producer",
    "aiokafka.conn",
    "aiokafka.client",
    "mode",
)


def _private_faust_uses(path: Path) -> list[str]:
    """`x._name` attribute uses and faust/aiokafka imports of private modules in a file."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            internal = node.module.startswith(_INTERNAL_MODULES) or any(
                p.startswith("_") for p in parts
            )
            if parts[0] in ("faust", "aiokafka", "mode") and internal:
                found.append(f"from {node.module}")
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            if isinstance(node.value, ast.Name) and node.value.id in ("faust", "aiokafka"):
                found.append(node.attr)
    return found


def test_nothing_else_in_streams_reaches_into_faust_internals() -> None:
    offenders = {}
    for path in STREAMS.rglob("*.py"):
        if path.name == "faust_compat.py":
            continue
        text = path.read_text()
        uses = _private_faust_uses(path)
        for marker in ("_drain_messages", "_fetch_max_wait_ms", "_new_transport", "_on_sig"):
            if marker in text:
                uses.append(marker)
        if uses:
            offenders[str(path.relative_to(STREAMS))] = uses
    assert offenders == {}


def test_there_is_no_switch_back_to_upstreams_lossy_fetch_loop() -> None:
    from streams.settings import StreamsSettings

    assert "fast_drain" not in StreamsSettings.model_fields
    with pytest.raises(ValueError, match="fast_drain"):
        StreamsSettings(fast_drain=False)  # type: ignore[call-arg]


def test_batches_mark_their_partitions_live_for_fausts_liveness_check() -> None:
    """No per-event Stream: without this, faust logs "Stream has not started processing"."""
    import faust
    from faust.types import TP

    app = faust.App("compat-test", store="memory://", autodiscover=False)
    monitor = app.monitor
    tps = {TP("p.llm.requests", 0), TP("p.llm.requests", 1)}
    faust_compat.mark_inbound(monitor, tps)
    assert set(monitor.stream_inbound_time) == tps
    faust_compat.mark_inbound(None, tps)  # no monitor: nothing to do


async def test_raw_channels_are_delivered_as_fausts_decode_would() -> None:
    """The raw-bytes handler skips faust's codec: that decode must be the identity."""
    import faust
    from faust.types import Message

    app = faust.App("compat-raw", store="memory://", autodiscover=False)
    raw = app.topic(
        "t", key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    assert faust_compat._is_raw(raw)
    assert not faust_compat._is_raw(app.topic("j", value_type=bytes, value_serializer="json"))
    for key, value in ((b"s1", b'{"a": 1}'), (None, None), (b"", b"\x00\xff")):
        message = Message("t", 0, 1, 0.0, 0, None, key, value, None)
        event = await raw.decode(message, propagate=True)
        assert (event.key, event.value) == (key, value)
