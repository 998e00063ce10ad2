"""What defines a run: the configuration dataclass, the profiles, and how defaults are resolved.

Precedence: an explicit command-line value, then the profile, then the registry entry's recipe.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from archs import ModelEntry


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    epochs: int | None = None  # None: the recipe's
    train_subset: int | None = None  # None: all 60,000
    test_subset: int | None = None  # None: all 10,000
    resolution_224: int | None = None  # input side for the 224-px models; None: the entry's own


PROFILES = {
    "full": Profile("full", "d2l's recipe: the entry's epochs, all 60,000 training images, the entry's input size"),
    "smoke": Profile(
        "smoke",
        "a quick CPU pass over the whole registry: 3 epochs on 5,000 training and 2,000 test images, "
        "224-px models at 72 px (LeNet stays at 28)",
        epochs=3,
        train_subset=5_000,
        test_subset=2_000,
        resolution_224=72,
    ),
}

# The fast path's defaults per device type (issue 5's measurements in benchmarks/PERFORMANCE.md); `--exact` is d2l.
FAST_DEFAULTS = {
    "cuda": {"precision": "bf16", "channels_last": True, "compile": True, "fused_optimizer": True},
    "cpu": {"precision": "bf16", "channels_last": True, "compile": False, "fused_optimizer": True},
}
EXACT = {"precision": "fp32", "channels_last": False, "compile": False, "fused_optimizer": False}


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; two runs with equal configs are the same run."""

    arch: str
    profile: str
    device: str  # "cuda" or "cpu": the kind; the device's name goes in the record's env
    seed: int
    epochs: int
    batch_size: int
    lr: float
    resolution: int
    train_subset: int | None
    test_subset: int | None
    precision: str
    channels_last: bool
    compile: bool
    fused_optimizer: bool
    data: str = "real"  # or "synthetic"
    optimizer: str = "sgd"

    def as_dict(self) -> dict:
        return asdict(self)

    def run_id(self) -> str:
        return config_id(self.as_dict())

    def file_name(self) -> str:
        return f"{self.arch}__{self.profile}__{self.device}__{self.precision}__{self.run_id()}__seed{self.seed}.json"


def config_id(config: dict) -> str:
    """A short stable hash of a run's configuration without its seed: the seeds of one configuration share it."""
    fields = {k: v for k, v in config.items() if k != "seed"}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]


def profile_resolution(entry: ModelEntry, profile: Profile) -> int:
    if profile.resolution_224 is None or entry.input_size < 224:
        return entry.input_size
    return max(profile.resolution_224, entry.min_input_size)


def resolve(
    entry: ModelEntry, profile: Profile, device_kind: str, seed: int, overrides: dict, exact: bool = False
) -> RunConfig:
    """The configuration for one (architecture, seed); ``overrides`` holds the command line's explicit values."""
    fast = dict(EXACT if exact else FAST_DEFAULTS[device_kind])
    fast.update({k: v for k, v in overrides.items() if k in fast and v is not None})

    def pick(key, default):
        value = overrides.get(key)
        return default if value is None else value

    return RunConfig(
        arch=entry.name,
        profile=profile.name,
        device=device_kind,
        seed=seed,
        epochs=pick("epochs", profile.epochs or entry.recipe.epochs),
        batch_size=pick("batch_size", entry.recipe.batch_size),
        lr=pick("lr", entry.recipe.lr),
        resolution=pick("resolution", profile_resolution(entry, profile)),
        train_subset=pick("train_subset", profile.train_subset),
        test_subset=pick("test_subset", profile.test_subset),
        data=pick("data", "real"),
        **fast,
    )
