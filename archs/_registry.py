"""The model registry: builders by name, with the metadata every other part of the suite reads.

Shaped like torchvision's and timm's: ``register_model`` (a decorator), ``list_models`` and ``get_model``.
``register_model("name")`` alone is enough; what it is not told, it fills in as follows:

| field | default when not given |
|---|---|
| description | the first line of the builder's docstring ("" when it has none) |
| input_size | 28, Fashion-MNIST's own side, when the network accepts it; else 224, d2l's ImageNet side |
| min_input_size | discovered: the smallest side at which a forward pass runs (on the meta device: no memory, no compute) |
| max_input_size | discovered: None when twice the input size also runs, else the input size |
| recipe | ``DEFAULT_RECIPE``: d2l's ``train_ch6`` with lr 0.1, batch 128, 10 epochs (NiN's and GoogLeNet's recipe) |
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
from torch import nn


@dataclass(frozen=True)
class Recipe:
    """A reference training recipe: d2l's ``train_ch6`` (cross-entropy, Xavier init) with this optimizer."""

    lr: float
    batch_size: int
    epochs: int = 10
    optimizer: str = "sgd"  # a name in benchmarks.train.compute.OPTIMIZERS; it is the optimizer that trains
    source: str = ""  # where the recipe comes from, or why it was chosen


DEFAULT_RECIPE = Recipe(lr=0.1, batch_size=128, source="the suite's default: d2l train_ch6 at lr 0.1, batch 128")


@dataclass(frozen=True)
class Published:
    """Numbers d2l published for this recipe (see shared REFERENCE.md), shown beside ours.

    ``test_acc_low``/``high`` span the builds that converged: a range over ``builds`` builds, or, with
    ``single_builds``, the only builds there are (each a point, not the ends of a range). Builds that never left
    chance are kept apart in ``not_converged``, so that a run stuck at chance cannot pass as "within".
    """

    test_acc_low: float
    test_acc_high: float
    examples_per_sec_low: float
    examples_per_sec_high: float
    builds: int | None = None
    single_builds: bool = False
    not_converged: tuple[float, ...] = ()
    device: str = "Tesla V100, fp32 eager (d2l build machine)"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., nn.Module]
    description: str
    input_size: int | None  # the side, in pixels, the architecture was designed for (None: not yet discovered)
    min_input_size: int | None  # the smallest side the network accepts (None: not yet discovered)
    recipe: Recipe
    published: Published | None = None
    tags: tuple[str, ...] = field(default=())
    max_input_size: int | None = None  # None: any side from the minimum up
    sizes_given: tuple[bool, bool, bool] = (True, True, True)  # which of the three sizes register_model was given

    @property
    def sized(self) -> bool:
        """Whether the sizes are known (given, or discovered): else ``with_sizes`` runs the network to find them."""
        return self.input_size is not None and self.min_input_size is not None

    @property
    def user_code(self) -> bool:
        """Whether the builder is a user's (``--import``), not one of this package's."""
        return not self.builder.__module__.startswith("archs")

    def with_sizes(self, found: tuple[int, int, int | None] | None = None) -> ModelEntry:
        """This entry with its sizes: those given, the rest ``found`` (or discovered here, on the meta device)."""
        if self.sized and found is None:
            return self
        found = found or discover_input_sizes(self.builder)
        given_size, given_min, given_max = self.sizes_given
        size = self.input_size if given_size else found[0]
        low = self.min_input_size if given_min else found[1]
        high = self.max_input_size if (given_size or given_max) else found[2]
        return replace(self, input_size=size, min_input_size=low, max_input_size=high)

    def build(self, **overrides) -> nn.Module:
        return self.builder(**overrides)

    def check_input_size(self, size: int) -> None:
        """Raise ValueError when ``size`` is too small for this architecture."""
        if size < self.min_input_size:
            raise ValueError(f"resolution {size} is too small for {self.name!r}: the minimum is {self.min_input_size}")
        if self.max_input_size is not None and size > self.max_input_size:
            raise ValueError(f"resolution {size} is too large for {self.name!r}: the maximum is {self.max_input_size}")


_ENTRIES: dict[str, ModelEntry] = {}


def _runs_at(model: nn.Module, side: int) -> bool:
    """Whether one 1-channel image of this side goes through ``model`` (shapes only, on the meta device)."""
    try:
        with torch.no_grad():
            model(torch.empty(1, 1, side, side, device="meta"))
    except Exception:  # any shape error of any layer means "not at this size"
        return False
    return True


def discover_input_sizes(builder: Callable[..., nn.Module]) -> tuple[int, int, int | None]:
    """(input_size, min_input_size, max_input_size) of a builder that states none of them; see the module table."""
    with torch.device("meta"):
        model = builder().eval()
    input_size = 28 if _runs_at(model, 28) else 224
    if not _runs_at(model, input_size):
        raise ValueError(f"{builder.__name__}: runs at neither 28 nor 224 px; give input_size= to register_model")
    max_size = None if _runs_at(model, 2 * input_size) else input_size
    return input_size, smallest_side(model, input_size), max_size


def smallest_side(model: nn.Module, up_to: int) -> int:
    """The smallest side at which ``model`` runs, assuming every larger one up to ``up_to`` (which runs) does too."""
    low, high = 1, up_to
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if _runs_at(model, middle) else (middle + 1, high)
    return low


def register_model(
    name: str,
    *,
    description: str | None = None,
    input_size: int | None = None,
    min_input_size: int | None = None,
    recipe: Recipe | None = None,
    published: Published | None = None,
    tags: tuple[str, ...] = (),
    max_input_size: int | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a model builder under ``name``; every other argument is optional (the module table says how
    a missing one is filled in).

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
        # sizes not given are discovered when first needed (``get_entry``), not here: importing a module of
        # models runs none of their code, and a suite sizes a user's entry in a process of its own
        text = description if description is not None else (inspect.getdoc(builder) or "").split("\n")[0]
        given = (input_size is not None, min_input_size is not None, max_input_size is not None)
        _ENTRIES[name] = ModelEntry(
            name, builder, text, input_size, min_input_size, recipe or DEFAULT_RECIPE, published, tuple(tags),
            max_input_size, given,
        )  # fmt: skip
        return builder

    return decorator


def list_models(pattern: str | None = None) -> list[str]:
    """Registered names, sorted; ``pattern`` filters them shell-style (``"nin*"``). ``torchvision:`` entries made
    on demand are not listed: ``archs._torchvision.classifier_names()`` lists what can be asked for."""
    names = sorted(n for n in _ENTRIES if not n.startswith("torchvision:"))
    return names if pattern is None else [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def _torchvision_entry(name: str) -> ModelEntry:
    """An entry for ``torchvision:NAME``, made on first use (``archs._torchvision``): 224 px, the default recipe,
    the smallest input discovered on the meta device."""
    from archs import _torchvision

    model_name = name[len(_torchvision.PREFIX) :]
    if model_name not in _torchvision.classifier_names():
        close = difflib.get_close_matches(model_name, _torchvision.classifier_names(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(_torchvision.PREFIX + c for c in close)}?" if close else ""
        raise KeyError(f"torchvision has no classifier {model_name!r}{hint}")
    build = _torchvision.builder(model_name)
    with torch.device("meta"):
        model = build().eval()
    return ModelEntry(name, build, build.__doc__, 224, smallest_side(model, 224), DEFAULT_RECIPE, tags=("torchvision",))


def get_entry(name: str, sized: bool = True) -> ModelEntry:
    """The registry entry for ``name``; an unknown name raises KeyError naming the closest matches.

    With ``sized`` (the default) its input sizes are known, discovered on first use where they were not given (a
    forward pass on the meta device); ``sized=False`` runs none of its code. ``torchvision:NAME`` is torchvision's
    classifier NAME; KeyError says so where torchvision cannot be imported.
    """
    entry = _entry(name)
    if sized and not entry.sized:
        entry = _ENTRIES[name] = entry.with_sizes()
    return entry


def set_sizes(name: str, found: tuple[int, int, int | None]) -> ModelEntry:
    """Give ``name`` the sizes discovered elsewhere (in a process of its own: ``benchmarks.run.isolation``)."""
    entry = _ENTRIES[name] = _entry(name).with_sizes(found)
    return entry


def _entry(name: str) -> ModelEntry:
    if name.startswith("torchvision:"):
        if name not in _ENTRIES:
            from archs._torchvision import TorchvisionUnavailable

            try:
                _ENTRIES[name] = _torchvision_entry(name)
            except TorchvisionUnavailable as err:
                raise KeyError(f"{name}: {err}") from None
        return _ENTRIES[name]
    try:
        return _ENTRIES[name]
    except KeyError:
        close = difflib.get_close_matches(name, _ENTRIES, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(_ENTRIES))}"
        raise KeyError(f"unknown architecture {name!r}{hint}") from None


def get_model(name: str, **overrides) -> nn.Module:
    """A freshly built model; ``overrides`` go to its builder (``in_channels``, ``num_classes``)."""
    return get_entry(name).build(**overrides)
