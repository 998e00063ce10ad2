"""What defines a run: ``RunConfig``, the one typed definition of a run's settings, and its id.

Every field of ``RunConfig`` (and of the ``ComputePath`` inside it, kept as ``fast`` in records) is decided once per
run by ``benchmarks.run.profiles.resolve``: from the command line (``benchmarks.run.options`` declares each flag
beside the field it sets; ``--recipe-set FIELD=VALUE`` sets a part of the recipe), the profile
(``benchmarks.run.profiles.PROFILES``), the entry's recipe (``archs.Recipe``, or the fast recipe
``benchmarks.schema.recipe.FAST``) and the machine's compute defaults (``benchmarks.train.compute``). The machine is
the slug of ``benchmarks.measure.machine``; ``world_size`` is torchrun's under ``--ddp``, 1 otherwise.

Precedence: an explicit command-line value, then ``--exact`` (d2l's path: fp32, NCHW, eager, a for-loop SGD step, no
autotuning, no TF32), then the machine's compute defaults (``compute_defaults``), the profile, the entry's recipe.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import MISSING, asdict, dataclass, fields, is_dataclass

from benchmarks.schema.compute import ComputePath
from benchmarks.schema.fields import IDENTITY, identity, is_added
from benchmarks.schema.recipe import D2L, TrainRecipe

# Fashion-MNIST's splits (and the synthetic stand-in's): what ``train_subset`` / ``test_subset`` None mean
SPLITS = {"train": 60_000, "test": 10_000}


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; two runs with equal configs are the same run. The ``identity`` fields say
    which run of a comparison this is (the entry, the seed, where it ran); every other field is part of the
    configuration that a comparison holds equal (``same_config_fields``)."""

    arch: str = identity()
    profile: str = identity()
    machine: str = identity()  # the machine's slug (benchmarks.measure.machine): another machine, another run
    device: str = identity()  # "cuda" or "cpu": the kind; the device's name is in the record's env
    seed: int = identity()
    epochs: int
    batch_size: int
    lr: float
    resolution: int
    train_subset: int | None
    test_subset: int | None
    fast: ComputePath  # the compute path (named `fast` in every record)
    optimizer: str = "sgd"
    data: str = identity("real")  # or "synthetic"
    recipe: TrainRecipe = D2L
    world_size: int = 1  # --ddp: the ranks that train this one run together; the batch is the global batch

    @property
    def precision(self) -> str:
        return self.fast.precision

    def as_dict(self) -> dict:
        return asdict(self)

    def run_id(self) -> str:
        return config_id(self)

    def file_name(self) -> str:
        """Relative to the records folder: one folder per machine."""
        arch = self.arch.replace(":", "--")  # torchvision:resnet18 -> torchvision--resnet18, a name for any disk
        return f"{self.machine}/{arch}__{self.profile}__{self.precision}__{self.run_id()}__seed{self.seed}.json"


def same_config_fields() -> list[str]:
    """What must match for two runs to be compared as one change apart (an ablation against nin, a compute path
    against d2l's): every field but the identity ones, so that a new field is held equal without being listed."""
    return [f.name for f in fields(RunConfig) if f.metadata.get(IDENTITY) is None]


def id_values(value):
    """A configuration as the id hashes it: every field, but a field added after records were first written
    (``fields.added``) only where it differs from its default, so that a new field never renames a record."""
    if not is_dataclass(value):
        return value
    return {f.name: id_values(getattr(value, f.name)) for f in fields(value)
            if not (is_added(f) and f.default is not MISSING and getattr(value, f.name) == f.default)}  # fmt: skip


def config_id(config: RunConfig) -> str:
    """A short stable hash of a run's configuration without its seed: the seeds of one configuration share it."""
    values = {k: v for k, v in id_values(config).items() if k != "seed"}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:10]
