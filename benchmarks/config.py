"""What defines a run: its settings as two frozen dataclasses, the profiles, and how defaults are resolved.

Every field of ``RunConfig`` (and of the ``FastPath`` inside it) is settable from the command line or derived:

| field | flag | profile (`full` / `cpu` / `smoke`) | recipe (registry entry) | device default |
|---|---|---|---|---|
| arch | `--arch` | every entry / the nine required / every entry | | |
| profile | `--profile` | | | `full` on CUDA, `cpu` on a CPU |
| machine | derived: `benchmarks.machine.machine_slug` | | | |
| device | `--device` (its kind is kept: cpu, cuda) | | | cuda when present |
| seed | `--seeds` | 0 / 0 1 2 / 0 | | |
| epochs | `--epochs` | recipe's / 1 / 3 | `Recipe.epochs` | |
| batch_size | `--batch-size` | | `Recipe.batch_size` (fast recipe: 128) | |
| lr | `--lr` | | `Recipe.lr` (fast recipe: 0.003, the peak) | |
| optimizer | `--optimizer` | | `Recipe.optimizer` (fast recipe: adamw) | |
| recipe (its parts: `benchmarks.recipes.TrainRecipe`) | `--recipe`, `--recipe-set FIELD=VALUE` | d2l / fast / d2l | d2l: the entry's; fast: one for all | |
| resolution | `--resolution` | entry's / 224-px entries at their smallest input (at least 72 for smoke) | | |
| train_subset, test_subset | `--train-subset`, `--test-subset` | all / a subset and all / 5,000 and 2,000 | | |
| data | `--synthetic` | | | real |
| world_size | `--ddp` under torchrun (the world size); 1 otherwise | | | 1 |
| fast.precision | `--precision` | | | bf16 where the device computes it natively, else fp32 (CPU) or fp16 (old GPUs) |
| fast.channels_last | `--channels-last` | | | on |
| fast.compile | `--compile` | | | on CUDA only (it did not pay on a 2-core CPU) |
| fast.compile_mode | `--compile-mode` | | | `default` |
| fast.optimizer_impl | `--optimizer-impl` | | | `fused` (torch has fused CPU steps since 2.4) |
| fast.cudnn_benchmark | `--cudnn-benchmark` | | | on CUDA |
| fast.tf32 | `--tf32` | | | off: fp32 means fp32 |

Precedence: an explicit command-line value, then ``--exact`` (d2l's path: fp32, NCHW, eager, a for-loop SGD step, no
autotuning, no TF32), then the machine's fast defaults (``fast_defaults``), the profile, the entry's recipe.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace

from archs import REQUIRED, ModelEntry
from benchmarks import recipes
from benchmarks.machine import Capability
from benchmarks.recipes import D2L, TrainRecipe

PRECISIONS = ("fp32", "bf16", "fp16")
OPTIMIZER_IMPLS = ("for-loop", "foreach", "fused")  # torch.optim's names for the three ways to run a step
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")


@dataclass(frozen=True)
class FastPath:
    """How a step is computed; none of it changes the recipe. Shared by the runner, the harness and perf/."""

    precision: str = "fp32"  # fp32, or autocast to bf16 / fp16 (fp16 with loss scaling)
    channels_last: bool = False
    compile: bool = False  # torch.compile(dynamic=False)
    compile_mode: str = "default"
    optimizer_impl: str = "for-loop"  # for-loop (d2l's), foreach, or fused (one kernel per step, CUDA and CPU)
    cudnn_benchmark: bool = False  # cuDNN times its algorithms once per shape and keeps the fastest
    tf32: bool = False  # TF32 for fp32 matmuls and convolutions on Ampere and later; off: fp32 is fp32


EXACT = FastPath()  # d2l's path


@dataclass(frozen=True)
class Budget:
    """What one entry trains on under a profile: passes over how many training images, at which input side."""

    epochs: int
    train_subset: int | None = None  # None: all 60,000
    resolution: int | None = None  # None: the profile's rule for the entry (``profile_resolution``)

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


# The cpu profile's budget rule: every entry trains for about the same time, 100 s a seed on the slowest CPU of this
# project (2-core AMD Zen 4 with AVX2 only, fp32: cpu-amd-zen4-avx2-2t), stated as the training images that time
# buys there (its measured examples/s, rounded), so that the runs are the same on every machine; at most d2l's 10
# epochs (LeNet). NiN's ablations train on exactly nin's budget, so that each Welch test changes one thing.
CPU_SECONDS = 100
NIN_BUDGET = Budget(1, 33_000)  # 67 px, about 330 examples/s
CPU_BUDGETS = (
    ("lenet", Budget(10, None)),  # 10 epochs of 60,000 in about 50 s: d2l's epochs cap it
    ("alexnet", Budget(1, 11_000)),  # 65 px, about 110 examples/s
    ("vgg11-small", Budget(1, 14_000)),  # 64 px, about 140 examples/s
    ("vgg11", Budget(1, 5_000, resolution=32)),  # 32 px (its smallest side), about 50 examples/s; 24 at 64 px
    *((name, NIN_BUDGET) for name in ("nin", "nin-no-1x1", "nin-one-1x1", "nin-no-dropout", "nin-fc-head",
                                      "nin-stepped")),
)  # fmt: skip
CPU_ARCHS = tuple(name for name, _ in CPU_BUDGETS)

PROFILES = {
    "full": Profile("full", "d2l's recipe: the entry's epochs, all 60,000 training images, the entry's input size"),
    "cpu": Profile(
        "cpu",
        "the CPU default: the nine required entries and nin-stepped, 3 seeds, the fast recipe, each entry on its own "
        f"budget (below), 224-px models at their smallest input of at least 64 px (VGG-11 at 32); accuracy on all "
        "10,000 test images, a result",
        resolution_224=64,
        recipe="fast",
        seeds=(0, 1, 2),
        archs=CPU_ARCHS,
        evals_per_epoch=2,  # an evaluation of 10,000 images costs AlexNet a third of its training images' time
        against_d2l=False,  # a 100-second budget against d2l's 10 epochs of 60,000 would say "below" of every entry
        budgets=CPU_BUDGETS,
        budget_rule=f"about {CPU_SECONDS} s of training a seed for every entry on the slowest CPU of this project "
        "(2-core AVX2, fp32), as the training images that buys there, at most d2l's 10 epochs; NiN's ablations "
        "train on nin's budget",
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


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; two runs with equal configs are the same run."""

    arch: str
    profile: str
    machine: str  # the machine's slug (benchmarks.machine): a record from another machine is another run
    device: str  # "cuda" or "cpu": the kind; the device's name is in the record's env
    seed: int
    epochs: int
    batch_size: int
    lr: float
    resolution: int
    train_subset: int | None
    test_subset: int | None
    fast: FastPath
    optimizer: str = "sgd"
    data: str = "real"  # or "synthetic"
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


def config_id(config: RunConfig) -> str:
    """A short stable hash of a run's configuration without its seed: the seeds of one configuration share it."""
    values = {k: v for k, v in config.as_dict().items() if k != "seed"}
    values["recipe"] = {
        k: v for k, v in values["recipe"].items() if k not in recipes.ADDED_PARTS or v != recipes.ADDED_PARTS[k]
    }
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:10]


# why each machine class gets its fast path; the path itself differs only by precision and by what CUDA adds
WHY = {
    ("cuda", True): "CUDA with native bf16 (compute capability 8.0+): bf16 autocast, channels-last, compiled, "
    "fused optimizer step, cuDNN autotuning",
    ("cuda", False): "CUDA without native bf16 (compute capability below 8.0): fp16 autocast with loss scaling, "
    "channels-last, compiled, fused optimizer step, cuDNN autotuning",
    ("cpu", True): "CPU with native bf16 (AVX-512-BF16 or AMX): bf16 autocast, channels-last, fused optimizer step; "
    "not compiled",
    ("cpu", False): "CPU without native bf16 (bf16 would be emulated, several times slower): fp32, channels-last, "
    "fused optimizer step; not compiled",
}


def fast_defaults(capability: Capability) -> tuple[FastPath, str]:
    """The fast path for a machine, and why; ``benchmarks/PERFORMANCE.md`` has the measurements behind it."""
    cuda = capability.kind == "cuda"
    precision = "bf16" if capability.native_bf16 else ("fp16" if cuda else "fp32")
    fast = FastPath(precision, channels_last=True, compile=cuda, optimizer_impl="fused", cudnn_benchmark=cuda)
    return fast, WHY[("cuda" if cuda else "cpu", capability.native_bf16)]


def profile_resolution(entry: ModelEntry, profile: Profile) -> int:
    if profile.resolution_224 is None or entry.input_size < 224:
        return entry.input_size
    return max(profile.resolution_224, entry.min_input_size)


def resolve_fast(defaults: FastPath, overrides: dict, exact: bool = False) -> FastPath:
    """The machine's defaults (or d2l's path with ``exact``), then each explicit value."""
    chosen = {f.name: overrides[f.name] for f in fields(FastPath) if overrides.get(f.name) is not None}
    return replace(EXACT if exact else defaults, **chosen)


def resolve(
    entry: ModelEntry, profile: Profile, machine: str, device_kind: str, seed: int, fast: FastPath, overrides: dict
) -> RunConfig:
    """The configuration for one (architecture, seed); ``overrides`` holds the command line's explicit values.

    ``overrides["recipe"] == "fast"`` trains with ``recipes.FAST`` and its optimizer, peak lr and batch size in
    place of the entry's; the epochs still come from the profile or the entry.
    """

    def pick(key, default):
        value = overrides.get(key)
        return default if value is None else value

    fast_recipe = (overrides.get("recipe") or profile.recipe) == "fast"
    recipe = recipes.with_parts(recipes.FAST if fast_recipe else D2L, overrides.get("recipe_parts") or [])
    if profile.evals_per_epoch is not None:
        recipe = replace(recipe, evals_per_epoch=profile.evals_per_epoch)
    base_lr = recipes.FAST_LR if fast_recipe else entry.recipe.lr
    base_batch = recipes.FAST_BATCH if fast_recipe else entry.recipe.batch_size
    base_optimizer = recipes.FAST_OPTIMIZER if fast_recipe else entry.recipe.optimizer

    budget = profile.budget(entry.name) or Budget(profile.epochs or entry.recipe.epochs, profile.train_subset)

    return RunConfig(
        arch=entry.name,
        profile=profile.name,
        machine=machine,
        device=device_kind,
        seed=seed,
        epochs=pick("epochs", budget.epochs),
        batch_size=pick("batch_size", base_batch),
        lr=pick("lr", base_lr),
        optimizer=pick("optimizer", base_optimizer),
        resolution=pick("resolution", budget.resolution or profile_resolution(entry, profile)),
        train_subset=pick("train_subset", budget.train_subset),
        test_subset=pick("test_subset", profile.test_subset),
        data=pick("data", "real"),
        fast=fast,
        recipe=recipe,
    )
