"""Planning a suite: every argument checked and every run's configuration decided before anything trains.

``plan`` turns ``RunOptions`` into a ``Plan`` (the device, the machine's slug, its compute defaults and why, and the
``RunConfig`` of each run, each decided by ``profiles.resolve``); ``describe_plan`` is what the suite prints first.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import torch

import archs
from benchmarks.errors import UsageError
from benchmarks.measure import machine
from benchmarks.run import options
from benchmarks.run.options import RunOptions
from benchmarks.run.profiles import PROFILES, resolve
from benchmarks.run.user_archs import import_user_modules
from benchmarks.schema import recipe as recipes
from benchmarks.schema.compute import ComputePath
from benchmarks.schema.config import SPLITS, RunConfig
from benchmarks.train import distributed
from benchmarks.train.compute import OPTIMIZERS, check_precision, compute_defaults, resolve_compute


def resolve_device(requested: str | None) -> str:
    if requested is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise UsageError(f"--device {requested!r} is not a device (use cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {requested}: CUDA is not available on this machine (use --device cpu)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(f"--device {requested}: there are {torch.cuda.device_count()} CUDA devices")
        return str(device)
    if device.type != "cpu":
        raise UsageError(f"--device {requested}: only cpu and cuda are supported")
    return "cpu"


def no_match(pattern: str) -> str:
    """The one message for a pattern that matches no entry, wherever a pattern is taken."""
    return f"{pattern!r} matches no architecture; `python -m benchmarks list` lists them"


def resolve_archs(patterns: list[str]) -> list[str]:
    names: list[str] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            matched = archs.list_models(pattern)
            if not matched:
                raise UsageError(no_match(pattern))
        else:
            try:
                archs.get_entry(pattern, sized=False)  # a name check runs no model code
            except KeyError as err:
                raise UsageError(err.args[0]) from None
            matched = [pattern]
        names += [n for n in matched if n not in names]
    return names


def check_values(args: RunOptions) -> None:
    """Each option's own check (``options.check``), then what no single field can say: subsets within the splits,
    seeds non-negative and each given once."""
    try:
        options.check(args)
    except ValueError as err:
        raise UsageError(str(err)) from None
    for flag, value, size in (("--train-subset", args.train_subset, SPLITS["train"]),
                              ("--test-subset", args.test_subset, SPLITS["test"])):  # fmt: skip
        if value is not None and value > size:
            raise UsageError(f"{flag} {value}: the split has {size:,} images")
    seeds = list(args.seeds or [])
    if any(seed < 0 for seed in seeds):
        raise UsageError(f"--seeds: a seed is a non-negative integer, not {min(seeds)}")
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise UsageError(f"--seeds: {', '.join(map(str, repeated))} given twice; each seed is one run")


def check_writable(folder: str) -> Path:
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise UsageError(f"--out {folder}: cannot write there ({err.strerror or err})") from None
    return path


@dataclasses.dataclass(frozen=True)
class Plan:
    device: str  # as torch names it: cpu, cuda, cuda:1
    machine: str  # the machine's slug
    defaults: ComputePath  # the machine's compute defaults
    why: str  # why those defaults
    configs: list[RunConfig]
    unsized: dict[str, tuple[str, list[str]]] = dataclasses.field(default_factory=dict)  # arch -> why, last lines


def sized_entry(name: str, args: RunOptions, in_child: bool, unsized: dict):
    """``name``'s entry with its input sizes. A user's entry whose sizes were not given is sized in a process of
    its own when runs are isolated (its code may crash a process); if that process fails, the entry goes to
    ``unsized`` and stands in at ``--resolution`` (or 224) so that its runs are planned, and recorded as crashed."""
    entry = archs.get_entry(name, sized=False)
    if entry.sized or not (in_child and entry.user_code):
        return archs.get_entry(name)
    from benchmarks.run import isolation

    found, why, tail = isolation.sizes_in_child(name, list(args.imports))
    if found is not None:
        return archs.set_sizes(name, found)
    unsized[name] = (why, tail)
    stand_in = args.resolution or 224
    return dataclasses.replace(entry, input_size=stand_in, min_input_size=stand_in, max_input_size=None)


def default_profile(device_kind: str) -> str:
    """``full`` (d2l's recipe, every entry) where a GPU makes it minutes; ``cpu`` (results a CPU affords) elsewhere."""
    return "full" if device_kind == "cuda" else "cpu"


def run_overrides(args: RunOptions) -> dict:
    """The command line's explicit values of a run's configuration, for ``profiles.resolve`` (None: not given): the
    ``config`` options, each a ``RunConfig`` field of its name, and the recipe and data the plan decides from."""
    return {**options.overrides(args), "recipe": args.recipe, "recipe_parts": list(args.recipe_parts),
            "data": "synthetic" if args.synthetic else None}  # fmt: skip


def plan(args: RunOptions, w: distributed.World | None = None, isolate: bool = False) -> Plan:
    """Every configuration the suite will run, each checked; raises UsageError on the first bad argument. With
    ``isolate`` this process runs none of a user entry's code (``sized_entry``)."""
    w = w or distributed.World()
    import_user_modules(args.imports)
    check_values(args)
    if args.ddp and not w.active:
        raise UsageError("--ddp needs several processes: start the suite with torchrun --nproc-per-node N")
    try:
        recipes.with_parts(recipes.D2L, list(args.recipe_parts))  # checked once, before anything runs
    except ValueError as err:
        raise UsageError(str(err)) from None
    device = resolve_device(args.device)
    if w.active and device.startswith("cuda:"):  # every rank would train on that one GPU
        raise UsageError(f"--device {device} under torchrun: each rank takes cuda:LOCAL_RANK; pass --device cuda")
    if w.active and device == "cuda":
        device = f"cuda:{w.local_rank}"  # one GPU per rank
    kind = torch.device(device).type
    profile = PROFILES[args.profile or default_profile(kind)]
    names = resolve_archs(args.arch or list(profile.archs or ["*"]))
    try:
        check_precision(args.compute.get("precision"), kind)
    except ValueError as err:
        raise UsageError(str(err)) from None
    defaults, why = compute_defaults(machine.capability(device))
    fast = resolve_compute(defaults, args.compute, exact=args.exact)
    overrides = run_overrides(args)
    slug = machine.machine_slug(device)
    configs, unsized = [], {}
    for name in names:
        entry = sized_entry(name, args, isolate, unsized)
        for seed in args.seeds or profile.seeds_for(name):
            config = resolve(entry, profile, slug, kind, seed, fast, overrides)
            if args.ddp:
                config = dataclasses.replace(config, world_size=w.size)
                if config.batch_size % w.size:
                    raise UsageError(f"{name}: batch {config.batch_size} does not split over {w.size} ranks")
            try:
                entry.check_input_size(config.resolution)
            except ValueError as err:
                if name not in unsized:
                    raise UsageError(str(err)) from None
            if config.optimizer not in OPTIMIZERS:
                raise UsageError(f"{name}: its recipe names optimizer {config.optimizer!r}; known: "
                                 f"{', '.join(sorted(OPTIMIZERS))}")  # fmt: skip
            configs.append(config)
    return Plan(device, slug, defaults, why, configs, unsized)


def describe_compute(fast: ComputePath) -> str:
    parts = [
        fast.precision + (" (TF32 on)" if fast.tf32 else ""),
        "channels-last" if fast.channels_last else "NCHW",
        f"compiled ({fast.compile_mode})" if fast.compile else "eager",
        f"{fast.optimizer_impl} optimizer step",
    ]
    if fast.cudnn_benchmark:
        parts.append("cuDNN autotuning")
    if fast.muon_precision != "fp32":
        parts.append(f"Muon's Newton-Schulz in {fast.muon_precision}")
    return ", ".join(parts)


def describe_optimizer(c: RunConfig) -> str:
    parts = recipes.peak_lrs(c.optimizer, c.lr, c.recipe)
    return ", ".join(f"{name} lr {lr:g}" + (f" on {what}" if what else "") for name, lr, what in parts)


def describe_seconds(value: float | None) -> str:
    """An estimate as the plan and the progress lines say it: seconds, minutes from 90 s, hours from 90 min."""
    if value is None:
        return "no estimate"
    if value >= 90 * 60:
        return f"about {value / 3600:,.1f} h"
    return f"about {value / 60:,.1f} min" if value >= 90 else f"about {value:,.0f} s"


def describe_plan(p: Plan, args: RunOptions, estimates: list[float | None] | None = None) -> str:
    """What the suite will do, a line per run with its estimated wall time (``budget.estimate_seconds``) and the
    total, where the records give one."""
    estimates = estimates or [None] * len(p.configs)
    profile = PROFILES[p.configs[0].profile]
    lines = [
        f"machine {p.machine}: {machine.device_name(p.device)} (device {p.device})",
        f"compute defaults for it: {describe_compute(p.defaults)}. Why: {p.why}",
        f"profile {profile.name}: {profile.description}",
    ]
    if args.profile is None:
        lines[-1] += f" [default for this device; --profile {'|'.join(sorted(PROFILES))} to choose]"
    if profile.budget_rule:
        lines.append(f"budget rule: {profile.budget_rule}")
    for c, estimate in zip(p.configs, estimates):
        lines.append(
            f"  {c.arch} seed {c.seed}: {c.recipe.name} recipe, {c.epochs} epochs, batch {c.batch_size}, "
            f"{describe_optimizer(c)}, "
            f"{c.resolution} px, train {c.train_subset or 'all'}, test {c.test_subset or 'all'}, "
            f"{'as the defaults' if c.fast == p.defaults else describe_compute(c.fast)}"
            f"{', synthetic data' if c.data == 'synthetic' else ''}; {describe_seconds(estimate)}"
        )
    known = [e for e in estimates if e is not None]
    if known:
        unknown = len(estimates) - len(known)
        lines.append(f"estimated total: {describe_seconds(sum(known))} by this machine's records"
                     + (f", and {unknown} run(s) with no estimate" if unknown else ""))  # fmt: skip
    return "\n".join(lines)
