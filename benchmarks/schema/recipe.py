"""The recipe axis: d2l's recipe (the book's, per entry) and one fast recipe for every architecture.

``--recipe d2l`` trains as the book does: the entry's ``Recipe`` (plain SGD at a constant learning rate, its batch
size and epochs), no weight decay, no label smoothing, no augmentation, one test evaluation per epoch.

``--recipe fast`` is one recipe for every architecture, so that the comparison stays fair; every part of it is a
field of ``TrainRecipe`` below, recorded in each run's config, and can be changed one at a time with
``--recipe-set FIELD=VALUE`` (``benchmarks/PERFORMANCE.md`` says what each part bought, measured). Its values are
written once, in ``FAST`` below. Nothing in it depends on the
architecture or the batch size, so no scaling rule is needed.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields, replace

from benchmarks.schema.fields import added

RECIPES = ("d2l", "fast")  # the names ``named`` knows
INITS = ("xavier", "kaiming", "lsuv", "centred")


@dataclass(frozen=True)
class TrainRecipe:
    """How a model is trained, beyond its learning rate, batch size and epochs (which ``RunConfig`` holds). A part
    added after records were first written is declared ``added(default)``: while at its default it is left out of
    a configuration's id, so that every earlier record keeps the id its file name carries."""

    name: str = "d2l"
    momentum: float = 0.0  # SGD only
    nesterov: bool = False  # SGD only
    weight_decay: float = 0.0  # decoupled (AdamW) or L2 (SGD)
    label_smoothing: float = 0.0
    schedule: str = "constant"  # "constant", or "onecycle": linear warm-up to lr, then linear decay to 0
    warmup_fraction: float = 0.0  # of all steps, for "onecycle"
    flip: bool = False  # random horizontal flips, on the device, whole batches
    translate: int = 0  # random translations of up to this many pixels (of the 28-px image), zero padded
    evals_per_epoch: int = 1  # test-set evaluations per epoch (off the training clock): the time-to-accuracy log
    # of every Conv2d and Linear weight: "xavier" (d2l's uniform), "kaiming" (normal, fan-in) or "lsuv" (orthogonal,
    # then each layer rescaled to unit output variance on the first training batch: Mishkin & Matas, 2016) or
    # "centred" (He's weights, then each layer's bias and scale set so that every output channel has zero mean and
    # unit variance on the first training batch: Salimans & Kingma, 2016)
    init: str = "xavier"
    clip_grad_norm: float = added(0.0)  # clip the gradients' global L2 norm to this before each step; 0: no clipping
    last_layer_lr: float = added(1.0)  # the last Conv2d/Linear layer's lr as a multiple of the lr (Caffe NiN: 0.1)
    muon_lr: float = added(
        0.02
    )  # with --optimizer muon: the peak lr of the convolution filters (Muon); the rest AdamW's
    ema: float = added(0.0)  # evaluate an exponential moving average of the weights with this decay per step; 0: none


D2L = TrainRecipe()

# lr, batch size and optimizer of the fast recipe; epochs come from the profile (or --epochs)
FAST_PARTS = TrainRecipe(
    name="fast",
    weight_decay=0.05,
    label_smoothing=0.1,
    schedule="onecycle",
    warmup_fraction=0.2,
    flip=False,  # measured: on one pass over the images, where none repeats, augmentation cost 5 (LeNet) and
    translate=0,  # 24 (NiN) points (benchmarks/PERFORMANCE.md); --recipe-set flip=on translate=2 for longer runs
    evals_per_epoch=4,
    init="kaiming",  # Xavier halves the signal's variance at every ReLU layer: NiN's class maps start near zero
)


@dataclass(frozen=True)
class RunRecipe:
    """Every training choice of a run: the optimizer, its peak lr, the batch, the epochs and the parts. A run's
    ``RunConfig`` keeps the first four as fields of its own and the parts as ``recipe`` (the record's shape)."""

    name: str
    optimizer: str
    lr: float
    batch_size: int
    epochs: int | None  # None: the profile's (the fast recipe has no epoch count of its own)
    parts: TrainRecipe


# Muon on the convolution filters (muon_lr 0.02), AdamW at a peak lr of 0.001 on the rest, He init. Measured
# (PERFORMANCE.md, "More accuracy per training image"): against AdamW alone, NiN +7.3 points on Zen 3 (Holm p =
# 0.044) and +8.9 to +10.0 on Zen 5 over ten seeds, LeNet +5.8, AlexNet +5.2, VGG-11-small +3.0 (every seed better);
# it costs 1.5-1.9x AdamW's training seconds on the same images. AdamW at 0.001 with He init was chosen before on
# 12,000 images: NiN learned on 10 of 10 seeds, mean 0.536, against 0.402 at 0.003 with Xavier (Welch p = 0.024).
FAST = RunRecipe("fast", optimizer="muon", lr=0.001, batch_size=64, epochs=None, parts=FAST_PARTS)


def peak_lrs(optimizer: str, lr: float, recipe: TrainRecipe) -> tuple[tuple[str, float, str], ...]:
    """Each optimizer of a run with its peak lr and what it steps (empty: everything). Muon has two: its own on
    the convolution filters (``muon_lr``), AdamW's (the run's lr) on the rest."""
    if optimizer == "muon":
        return (("muon", recipe.muon_lr, "the filters"), ("adamw", lr, "the rest"))
    return ((optimizer, lr, ""),)


def named(name: str, book) -> RunRecipe:
    """The recipe called ``name``: ``d2l``, the book's own for the entry (``book``: its ``archs.Recipe``, plain SGD
    at a constant lr), or ``fast``, one for every entry."""
    if name == "fast":
        return FAST
    return RunRecipe("d2l", book.optimizer, book.lr, book.batch_size, book.epochs, D2L)


SCHEDULES = ("constant", "onecycle")
CHOICES = {"init": INITS, "schedule": SCHEDULES}
BOOLEANS = {"true": True, "1": True, "on": True, "false": False, "0": False, "off": False}


def with_parts(recipe: TrainRecipe, parts: list[str]) -> TrainRecipe:
    """``recipe`` with some parts changed, each given as ``FIELD=VALUE`` (``--recipe-set``); the name says which,
    so that a changed recipe is never shown under the plain name. Raises ValueError naming the bad part."""
    if not parts:
        return recipe
    kinds = {f.name: f.type for f in fields(TrainRecipe) if f.name != "name"}
    changes = {}
    for part in parts:
        key, sep, text = part.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise ValueError(f"--recipe-set {part!r}: expected FIELD=VALUE with FIELD one of {', '.join(kinds)}")
        if key not in kinds:
            close = difflib.get_close_matches(key, kinds, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ValueError(f"--recipe-set {part!r}: no recipe field {key!r}; {hint}fields: {', '.join(kinds)}")
        kind = kinds[key]
        try:
            if kind == "bool":
                value = BOOLEANS[text.lower()]
            else:
                value = {"int": int, "float": float, "str": str}[kind](text)
        except (KeyError, ValueError):
            raise ValueError(f"--recipe-set {part!r}: {key} takes a {kind}") from None
        if key in CHOICES and value not in CHOICES[key]:
            raise ValueError(f"--recipe-set {part!r}: {key} is one of {', '.join(CHOICES[key])}")
        if kind in ("int", "float") and value < 0:
            raise ValueError(f"--recipe-set {part!r}: {key} must not be negative")
        changes[key] = value
    label = ",".join(f"{k}={v}" for k, v in changes.items())
    return replace(recipe, name=f"{recipe.name}[{label}]", **changes)
