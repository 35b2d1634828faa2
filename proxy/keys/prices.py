"""The price table: USD per 1M tokens per model glob, and the cost of one response.

Pure once loaded. The shipped table (`prices.yaml` beside this module) can be
overridden by a YAML file of the same shape whose globs are checked first. A
model no glob matches has no price: its cost is None (and counted by the caller),
never a guess.
"""

from __future__ import annotations

import fnmatch
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["ModelPrice", "PriceTable", "PriceTableError"]

SHIPPED = Path(__file__).with_name("prices.yaml")


class PriceTableError(Exception):
    """A price file is unreadable or invalid (names the file)."""

    retriable = False


class ModelPrice(BaseModel):
    """Prices of one model glob, USD per 1M tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0, description="default: input price")


class _PriceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prices: list[ModelPrice]


def _load(path: Path) -> list[ModelPrice]:
    try:
        data = yaml.safe_load(path.read_text())
        return _PriceFile.model_validate(data).prices
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise PriceTableError(f"price file {path}: {exc}") from exc


class PriceTable:
    """Model globs -> prices; first match wins."""

    def __init__(self, prices: list[ModelPrice]) -> None:
        self.prices = prices
        self._lookup = lru_cache(maxsize=1024)(self._find)

    @classmethod
    def load(cls, override: Path | None = None) -> PriceTable:
        """The shipped table, with `override`'s entries checked first."""
        extra = _load(override) if override is not None else []
        return cls([*extra, *_load(SHIPPED)])

    def _find(self, model: str) -> ModelPrice | None:
        return next((p for p in self.prices if fnmatch.fnmatchcase(model, p.model)), None)

    def price_of(self, model: str | None) -> ModelPrice | None:
        return self._lookup(model) if model else None

    def cost(
        self,
        model: str | None,
        input_tokens: int | None,
        output_tokens: int | None,
        cached_input_tokens: int | None = None,
        *,
        cached_in_input: bool = True,
    ) -> float | None:
        """USD for one response, or None when the model is unpriced or no usage came back.

        `cached_in_input`: OpenAI counts cached tokens inside `input_tokens`;
        Anthropic reports them beside it (False).
        """
        price = self.price_of(model)
        if price is None or (input_tokens is None and output_tokens is None):
            return None
        cached = cached_input_tokens or 0
        fresh = (input_tokens or 0) - (cached if cached_in_input else 0)
        cached_price = price.cached_input if price.cached_input is not None else price.input
        micro = fresh * price.input + cached * cached_price + (output_tokens or 0) * price.output
        return round(micro / 1_000_000, 10)
