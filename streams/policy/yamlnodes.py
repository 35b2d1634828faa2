"""YAML to plain values while remembering the line of every key (for error messages).

Bounded: a document expands to at most `MAX_NODES` values and `MAX_DEPTH` levels,
counted after aliases are expanded, so a billion-laughs document (aliases of
aliases) is refused in milliseconds with a clear error instead of exhausting memory.
"""

from __future__ import annotations

from typing import Any

import yaml

from streams.policy.errors import PolicyValidationError

__all__ = ["MAX_DEPTH", "MAX_NODES", "Located", "load_located"]

MAX_NODES = 100_000
MAX_DEPTH = 64

Path_ = tuple[str | int, ...]


class Located:
    """A parsed YAML document plus the 1-based line of each path in it."""

    def __init__(self, name: str, value: Any, lines: dict[Path_, int]) -> None:
        self.name = name
        self.value = value
        self.lines = lines

    def line(self, path: Path_) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def where(self, path: Path_, message: str) -> str:
        """`file:line: field: message`."""
        return f"{self.name}:{self.line(path)}: {render(path) or '<document>'}: {message}"


def render(path: Path_) -> str:
    """A dotted path with list indices: `rules[0].patterns[1]`."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


_SCALARS = {
    "tag:yaml.org,2002:int": "int",
    "tag:yaml.org,2002:float": "float",
    "tag:yaml.org,2002:bool": "bool",
    "tag:yaml.org,2002:null": "null",
}
_CONSTRUCTOR = yaml.SafeLoader(b"")


def _scalar(node: yaml.ScalarNode) -> Any:
    if node.tag in _SCALARS:
        return _CONSTRUCTOR.construct_object(node, deep=True)
    return node.value


class _TooBig(Exception):
    def __init__(self, node: yaml.Node, message: str) -> None:
        super().__init__(message)
        self.line = node.start_mark.line + 1


class _Converter:
    """Node graph to values, counting every value produced (aliases count each time)."""

    def __init__(self) -> None:
        self.lines: dict[Path_, int] = {}
        self.nodes = 0

    def convert(self, node: yaml.Node, path: Path_) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooBig(
                node, f"the document expands to more than {MAX_NODES} values (aliases included)"
            )
        if len(path) > MAX_DEPTH:
            raise _TooBig(node, f"the document nests deeper than {MAX_DEPTH} levels")
        lines = self.lines
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for k, v in node.value:
                key = _scalar(k) if isinstance(k, yaml.ScalarNode) else str(k.value)
                key = str(key)
                lines[(*path, key)] = k.start_mark.line + 1
                out[key] = self.convert(v, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(v, (*path, i)) for i, v in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return _scalar(node)


def load_located(text: str, name: str) -> Located:
    """Parse one YAML document; syntax errors become `PolicyValidationError` with the line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise PolicyValidationError([f"{name}:{line}: <yaml>: {exc.problem}"]) from exc
    except yaml.YAMLError as exc:
        raise PolicyValidationError([f"{name}:1: <yaml>: {exc}"]) from exc
    except RecursionError as exc:  # the composer recurses per nesting level
        message = f"the document nests deeper than {MAX_DEPTH} levels"
        raise PolicyValidationError([f"{name}:1: <yaml>: {message}"]) from exc
    converter = _Converter()
    try:
        value = converter.convert(node, ()) if node is not None else {}
    except _TooBig as exc:
        raise PolicyValidationError([f"{name}:{exc.line}: <yaml>: {exc}"]) from None
    return Located(name, value, converter.lines)
