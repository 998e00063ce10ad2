"""The model registry: builders by name, with the metadata every other part of the suite reads.

Shaped like torchvision's and timm's: ``register_model`` (a decorator), ``list_models`` and ``get_model``.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn


@dataclass(frozen=True)
class Recipe:
    """A reference training recipe: plain SGD as in d2l's ``train_ch6``."""

    lr: float
    batch_size: int
    epochs: int = 10
    optimizer: str = "sgd"
    source: str = ""  # where the recipe comes from, or why it was chosen


@dataclass(frozen=True)
class Published:
    """Numbers d2l published for this recipe (see shared REFERENCE.md), shown beside ours."""

    test_acc_low: float
    test_acc_high: float
    examples_per_sec_low: float
    examples_per_sec_high: float
    device: str = "Tesla V100 (d2l build machine)"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., nn.Module]
    description: str
    input_size: int  # the side, in pixels, the architecture was designed for
    min_input_size: int  # the smallest side the network accepts
    recipe: Recipe
    published: Published | None = None
    tags: tuple[str, ...] = field(default=())
    max_input_size: int | None = None  # None: any side from the minimum up

    def build(self, **overrides) -> nn.Module:
        return self.builder(**overrides)

    def check_input_size(self, size: int) -> None:
        """Raise ValueError when ``size`` is too small for this architecture."""
        if size < self.min_input_size:
            raise ValueError(f"resolution {size} is too small for {self.name!r}: the minimum is {self.min_input_size}")
        if self.max_input_size is not None and size > self.max_input_size:
            raise ValueError(f"resolution {size} is too large for {self.name!r}: the maximum is {self.max_input_size}")


_ENTRIES: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    *,
    description: str,
    input_size: int,
    min_input_size: int,
    recipe: Recipe,
    published: Published | None = None,
    tags: tuple[str, ...] = (),
    max_input_size: int | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a model builder under ``name``.

    Args:
        name: the registry name, lower case (``nin-no-1x1``).
        description: one line, shown by ``python -m benchmarks list``.
        input_size: the image side the architecture was designed for.
        min_input_size: the smallest image side it accepts.
        recipe: the reference training recipe.
        published: published results for that recipe, if any.
        tags: free-form labels (``"ablation"``, ``"nin"``).
        max_input_size: the largest image side it accepts, where there is one.

    Returns:
        A decorator that registers the builder and returns it unchanged.

    Raises:
        ValueError: ``name`` is registered already.
    """

    def decorator(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _ENTRIES:
            raise ValueError(f"model {name!r} is registered already (by {_ENTRIES[name].builder.__module__})")
        _ENTRIES[name] = ModelEntry(
            name, builder, description, input_size, min_input_size, recipe, published, tuple(tags), max_input_size
        )
        return builder

    return decorator


def list_models(pattern: str | None = None) -> list[str]:
    """Registered names, sorted; ``pattern`` filters them shell-style (``"nin*"``)."""
    names = sorted(_ENTRIES)
    return names if pattern is None else [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; an unknown name raises KeyError naming the closest matches."""
    try:
        return _ENTRIES[name]
    except KeyError:
        close = difflib.get_close_matches(name, _ENTRIES, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(_ENTRIES))}"
        raise KeyError(f"unknown architecture {name!r}{hint}") from None


def get_model(name: str, **overrides) -> nn.Module:
    """A freshly built model; ``overrides`` go to its builder (``in_channels``, ``num_classes``)."""
    return get_entry(name).build(**overrides)
