"""The recipe axis: d2l's recipe (the book's, per entry) and one fast recipe for every architecture.

``--recipe d2l`` trains as the book does: the entry's ``Recipe`` (plain SGD at a constant learning rate, its batch
size and epochs), no weight decay, no label smoothing, no augmentation, one test evaluation per epoch.

``--recipe fast`` is one recipe for every architecture, so that the comparison stays fair; every part of it is a
field of ``TrainRecipe`` below, recorded in each run's config, and can be switched off one at a time
(``benchmarks/PERFORMANCE.md`` says what each part bought, measured). Nothing in it depends on the architecture
or the batch size, so no scaling rule is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

RECIPES = ("d2l", "fast")


@dataclass(frozen=True)
class TrainRecipe:
    """How a model is trained, beyond its learning rate, batch size and epochs (which ``RunConfig`` holds)."""

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


D2L = TrainRecipe()

# lr, batch size and optimizer of the fast recipe; epochs come from the profile (or --epochs)
FAST_OPTIMIZER, FAST_LR, FAST_BATCH = "adamw", 0.003, 128
FAST = TrainRecipe(
    name="fast",
    weight_decay=0.05,
    label_smoothing=0.1,
    schedule="onecycle",
    warmup_fraction=0.2,
    flip=True,
    translate=2,
    evals_per_epoch=4,
)
