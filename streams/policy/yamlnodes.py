"""YAML to plain values while remembering the line of every key (for error messages)."""

from __future__ import annotations

from typing import Any

import yaml

from streams.policy.errors import PolicyValidationError

__all__ = ["Located", "load_located"]

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


def _convert(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for k, v in node.value:
            key = _scalar(k) if isinstance(k, yaml.ScalarNode) else str(k.value)
            key = str(key)
            lines[(*path, key)] = k.start_mark.line + 1
            out[key] = _convert(v, (*path, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(v, (*path, i), lines) for i, v in enumerate(node.value)]
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
    lines: dict[Path_, int] = {}
    value = _convert(node, (), lines) if node is not None else {}
    return Located(name, value, lines)
