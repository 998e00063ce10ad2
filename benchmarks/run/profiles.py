"""The profiles a suite runs under (``full``, ``cpu``, ``smoke``) and ``resolve``: the one function that decides
every field of a run's ``RunConfig`` from the command line, the profile, the entry's budget and its recipe.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from archs import ModelEntry
from benchmarks.schema import recipe as recipes
from benchmarks.schema.compute import ComputePath
from benchmarks.schema.config import RunConfig


@dataclass(frozen=True)
class Budget:
    """What one entry trains on under a profile: passes over how many training images, at which input side."""

    epochs: int
    train_subset: int | None = None  # None: all 60,000
    resolution: int | None = None  # None: the profile's rule for the entry (``profile_resolution``)
    seeds: tuple[int, ...] | None = None  # None: the profile's

    def text(self) -> str:
        images = f"{self.train_subset:,}" if self.train_subset else "60,000"
        return f"{self.epochs} x {images} images" + (f" at {self.resolution} px" if self.resolution else "")


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    epochs: int | None = None  # None: the recipe's
    train_subset: int | None = None  # None: all 60,000
    test_subset: int | None = None  # None: all 10,000
    resolution_224: int | None = None  # input side for the 224-px models; None: the entry's own
    accuracy_is_result: bool = True  # False: too short to converge; its tables show no accuracy
    recipe: str = "d2l"  # the recipe unless --recipe names one
    seeds: tuple[int, ...] = (0,)  # unless --seeds names them
    archs: tuple[str, ...] | None = None  # the entries trained unless --arch names them; None: every entry
    evals_per_epoch: int | None = None  # test evaluations per epoch in place of the recipe's (they train nothing)
    against_d2l: bool = True  # False: a budget so far from d2l's 10 epochs that its published range is no verdict
    budgets: tuple[tuple[str, Budget], ...] = ()  # per entry: (name, budget), in place of epochs and train_subset
    budget_rule: str = ""  # why each entry gets its budget, said in the plan and the README

    def budget(self, name: str) -> Budget | None:
        return dict(self.budgets).get(name)

    def seeds_for(self, name: str) -> tuple[int, ...]:
        """The seeds an entry trains on unless --seeds names them: its budget's, else the profile's."""
        budget = self.budget(name)
        return budget.seeds if budget and budget.seeds else self.seeds


# The cpu profile's budget rule: every entry trains for about the same time, 100 s a seed on the slowest CPU of this
# project (2-core AMD Zen 4 with AVX2 only, fp32: cpu-amd-zen4-avx2-2t), stated as the training images that time
# buys there (its measured examples/s, rounded), so that the runs are the same on every machine; at most d2l's 10
# epochs (LeNet). NiN's ablations train on exactly nin's budget, so that each Welch test changes one thing.
CPU_SECONDS = 100
# 67 px, about 330 examples/s; five seeds, so that the ablation table can decide differences of about 6-12 points
# (three could decide 9-18 at the same spreads: benchmarks/PERFORMANCE.md)
NIN_BUDGET = Budget(1, 33_000, seeds=(0, 1, 2, 3, 4))
CPU_BUDGETS = (
    ("lenet", Budget(10, None)),  # 10 epochs of 60,000 in about 50 s: d2l's epochs cap it
    ("alexnet", Budget(1, 11_000)),  # 65 px, about 110 examples/s
    ("vgg11-small", Budget(1, 14_000)),  # 64 px, about 140 examples/s
    ("vgg11", Budget(1, 5_000, resolution=32)),  # 32 px (its smallest side), about 50 examples/s; 24 at 64 px
    *((name, NIN_BUDGET) for name in ("nin", "nin-no-1x1", "nin-one-1x1", "nin-no-dropout", "nin-fc-head",
                                      "nin-stepped")),
)  # fmt: skip
CPU_ARCHS = tuple(name for name, _ in CPU_BUDGETS)
CPU_SEEDS = (0, 1, 2)  # every entry's, where its budget names none

PROFILES = {
    "full": Profile("full", "d2l's recipe: the entry's epochs, all 60,000 training images, the entry's input size"),
    "cpu": Profile(
        "cpu",
        f"the CPU default: the nine required entries and nin-stepped, {len(CPU_SEEDS)} seeds (NiN's family "
        f"{len(NIN_BUDGET.seeds)}), the fast recipe, each entry on its own budget (below), 224-px models at their "
        "smallest input of at least 64 px (VGG-11 at 32); accuracy on all 10,000 test images, a result",
        resolution_224=64,
        recipe="fast",
        seeds=CPU_SEEDS,
        archs=CPU_ARCHS,
        evals_per_epoch=2,  # an evaluation of 10,000 images costs AlexNet a third of its training images' time
        against_d2l=False,  # a 100-second budget against d2l's 10 epochs of 60,000 would say "below" of every entry
        budgets=CPU_BUDGETS,
        budget_rule=f"about {CPU_SECONDS} s of training a seed for every entry on the slowest CPU of this project "
        "(2-core AVX2, fp32) under AdamW, as the training images that buys there (the fast recipe's Muon trains the "
        "same images in 1.5-1.9x the seconds), at most d2l's 10 epochs; NiN's ablations train on nin's budget",
    ),
    "smoke": Profile(
        "smoke",
        "a quick check that every entry runs, with its throughput: 3 epochs on 5,000 training and 2,000 test "
        "images, 224-px models at 72 px (LeNet stays at 28); too short for accuracy to be a result",
        epochs=3,
        train_subset=5_000,
        test_subset=2_000,
        resolution_224=72,
        accuracy_is_result=False,
    ),
}


def profile_resolution(entry: ModelEntry, profile: Profile) -> int:
    if profile.resolution_224 is None or entry.input_size < 224:
        return entry.input_size
    return max(profile.resolution_224, entry.min_input_size)


def resolve(
    entry: ModelEntry, profile: Profile, machine: str, device_kind: str, seed: int, fast: ComputePath, overrides: dict
) -> RunConfig:
    """The configuration for one (architecture, seed), every field decided here once: the command line's explicit
    values (``overrides``: any ``RunConfig`` field by its name, every one alike) first, then the entry's budget
    under the profile, the recipe (``recipes.named``: the profile's unless ``--recipe`` names one, with
    ``--recipe-set`` parts applied), the entry."""

    chosen = recipes.named(overrides.get("recipe") or profile.recipe, entry.recipe)
    parts = chosen.parts
    if profile.evals_per_epoch is not None:  # the profile's, unless --recipe-set says otherwise
        parts = replace(parts, evals_per_epoch=profile.evals_per_epoch)
    parts = recipes.with_parts(parts, overrides.get("recipe_parts") or [])

    budget = profile.budget(entry.name) or Budget(profile.epochs or chosen.epochs or entry.recipe.epochs,
                                                  profile.train_subset)  # fmt: skip

    decided = RunConfig(
        arch=entry.name,
        profile=profile.name,
        machine=machine,
        device=device_kind,
        seed=seed,
        epochs=budget.epochs,
        batch_size=chosen.batch_size,
        lr=chosen.lr,
        optimizer=chosen.optimizer,
        resolution=budget.resolution or profile_resolution(entry, profile),
        train_subset=budget.train_subset,
        test_subset=profile.test_subset,
        fast=fast,
        recipe=parts,
    )
    settable = {f.name for f in fields(RunConfig)} - {"recipe"}  # the recipe is given by its name, decided above
    config = replace(decided, **{k: v for k, v in overrides.items() if k in settable and v is not None})
    if config.optimizer != "muon":  # the field is recorded only where it acts, so that it renames no other run
        config = replace(config, fast=replace(config.fast, muon_precision=ComputePath.muon_precision))
    return config
