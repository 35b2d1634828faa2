"""Building trusted event models without pydantic's per-field `model_construct` loop.

The one place the proxy relies on pydantic internals. `model_construct` walks
every field per call (aliases, validation aliases, defaults): ~13 µs for an
`LLMRequest`, twice per proxied request. `Constructor` precomputes what that
loop decides for a model class and builds the same instance in ~2 µs.

Inventory of what it relies on (pydantic 2.x, checked against `model_construct`
by `tests/unit/proxy/test_construct.py`, which fails when pydantic changes it):

- `cls.__new__(cls)` makes an empty instance;
- the instance state is the four attributes `model_construct` sets with
  `object.__setattr__`: `__dict__` (every field, in field order; one not passed
  holds its default: an immutable one as is, a mutable one deep-copied, a
  factory's called),
  `__pydantic_fields_set__` (the names passed), `__pydantic_extra__` and
  `__pydantic_private__` (None);
- no alias, no `extra="allow"`, no `model_post_init`, not a root model: a class
  that has any of these is refused when the `Constructor` is built.

Values are trusted, as with `model_construct`: nothing is validated.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from functools import partial
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

__all__ = ["Constructor"]

M = TypeVar("M", bound=BaseModel)
_MISSING = object()
_set = object.__setattr__
_IMMUTABLE = (str, int, float, bool, bytes, type(None))


def _takes_data(factory: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature (list, dict): no data
        return False
    return any(
        p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        for p in params
    )


class Constructor(Generic[M]):
    """`Constructor(Model)(**values)` is `Model.model_construct(**values)`, precomputed."""

    __slots__ = ("_cls", "_factories", "_names", "_template")

    def __init__(self, cls: type[M]) -> None:
        if (
            cls.__pydantic_root_model__
            or cls.__pydantic_post_init__
            or cls.model_config.get("extra") == "allow"
        ):
            raise TypeError(f"{cls.__name__}: use model_construct")
        template: dict[str, Any] = {}
        factories: dict[str, Callable[..., Any]] = {}
        for name, field in cls.__pydantic_fields__.items():
            if field.alias not in (None, name) or field.validation_alias is not None:
                raise TypeError(f"{cls.__name__}.{name} has an alias: use model_construct")
            factory = field.default_factory
            if factory is None and not field.is_required():
                if isinstance(field.default, _IMMUTABLE):
                    template[name] = field.default
                    continue
                factory = partial(copy.deepcopy, field.default)  # what model_construct copies
            elif factory is not None and _takes_data(factory):
                raise TypeError(f"{cls.__name__}.{name}'s factory reads data: use model_construct")
            if factory is not None:
                factories[name] = factory
            template[name] = _MISSING
        self._cls = cls
        self._template = template
        self._factories = factories
        self._names = frozenset(template)

    def __call__(self, **values: Any) -> M:
        """The instance holding `values` (trusted), defaults for the fields not passed."""
        extra = values.keys() - self._names
        for name in extra:  # ignored, as `model_construct` does for `extra="forbid"`
            del values[name]
        state = self._template.copy()
        state.update(values)  # keeps the field order
        if len(values) != len(state):
            for name in self._names - values.keys():
                if name in self._factories:
                    state[name] = self._factories[name]()
                elif state[name] is _MISSING:
                    del state[name]  # required and not passed: absent, as in model_construct
        m = self._cls.__new__(self._cls)
        _set(m, "__dict__", state)
        _set(m, "__pydantic_fields_set__", set(values))
        _set(m, "__pydantic_extra__", None)
        _set(m, "__pydantic_private__", None)
        return m
