"""The plan of a short GPU slot (``python -m benchmarks gpu-check``): which runs, in which order, each step's
predicted seconds, and what does not fit, decided before anything runs and again before every step.

A slot is minutes of a lent GPU, in commands of at most ten minutes. Its steps come in the order of their value:

1. the chapter at d2l's budget (d2l's recipe, its 10 epochs of 60,000 images, each entry at its own input size):
   seed 0 of every required entry, the NiN family first and full VGG-11 last; then seed 1, then seed 2, of all but
   full VGG-11 (ten times any other entry's FLOPs);
2. NiN with the fast recipe at 224 px, three seeds: its time to 0.90 on the step clock;
3. step throughput and MFU (pytest-benchmark, compiled: the only step that compiles, so cold compilation cannot eat
   the chapter's minutes); then, eager, the chapter's step of one seed against three stacked in one step
   (``benchmarks.train.stacked``): whether stacking the seeds would fill the GPU better, for later slots;
4. full VGG-11's seeds 1 and 2, the least valuable runs.

The chapter runs eager, with cuDNN autotuning, bf16 and channels-last (the machine's defaults less compilation):
on a fresh machine inductor has no cache, and 30-90 s a graph would cost more than it saves in a run of seconds.

A step's runs are predicted one by one (``budget.estimate_seconds``) from the records of this machine kind, where
there are any, else from an assumed rate (``ASSUMED_SHARE`` of the vendor's dense peak; of a measured matrix
product on a CPU), with FLOPs counted from the network on the meta device. A run that does not fit in the minutes
left is not started, and said so; a shorter one after it still may be. Every run is a record, so the same command
again (the slot's second, shorter command) skips what is done and runs the rest; a run stopped at the first
command's limit goes on from its last saved epoch (``benchmarks.train.checkpoint``, kept in the work folder on the
still-warm machine), and the plan counts only its epochs left.

On a CPU (``--device cpu``) the same steps run with the same code, scaled to a rehearsal's minutes (``REHEARSAL``).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from functools import cache

CHAPTER = ("nin", "nin-no-1x1", "nin-one-1x1", "nin-no-dropout", "nin-fc-head", "lenet", "alexnet", "vgg11-small",
           "vgg11")  # fmt: skip
HEAVIEST = "vgg11"  # full VGG-11: its seeds after 0 come last of all
ASSUMED_SHARE = 0.20  # of the dense peak, where this machine kind has no finished run
ASSUMED_GPU = "NVIDIA H200"  # what --dry-run plans for on a machine without a GPU: the GPU this project is lent
START_SECONDS = {"cuda": 20.0, "cpu": 15.0}  # a step's process: python, torch, the data, the machine's facts
WARMUP_SECONDS = {"cuda": 5.0, "cpu": 1.0}  # an eager run's warm-up: cuDNN autotuning, first allocations
BENCH_SECONDS = {"cuda": 90.0, "cpu": 15.0}  # one model's throughput benchmark: compiled cold on CUDA
STACK_SECONDS = {"cuda": 30.0, "cpu": 10.0}  # one model's eager step, one seed and seeds stacked (no compilation)


@dataclass(frozen=True)
class Scale:
    """What the steps train on: d2l's budget on a GPU, a few hundred images in a CPU rehearsal."""

    chapter: tuple[str, ...]  # `benchmarks run` flags of the chapter's runs
    fast: tuple[str, ...]  # and of NiN's fast-recipe runs
    fast_seeds: tuple[int, ...]
    bench_archs: tuple[str, ...]  # the throughput benchmarks' entries, in the order they are kept
    bench_flags: tuple[str, ...]
    stack_archs: tuple[str, ...]  # the entries whose eager step is timed one seed against seeds stacked


GPU = Scale(
    chapter=("--profile", "full", "--recipe", "d2l"),
    fast=("--profile", "full", "--recipe", "fast", "--resolution", "224", "--epochs", "10"),
    fast_seeds=(0, 1, 2),
    bench_archs=("nin", "alexnet", "vgg11"),
    bench_flags=(),
    stack_archs=("lenet", "nin"),  # the smallest step (launches, if any is) and the NiN family's, most of the chapter
)
REHEARSAL = Scale(  # the cpu profile's input sides (224-px entries at 64, VGG-11 at 32), a hundred-odd images
    chapter=("--profile", "cpu", "--recipe", "d2l", "--train-subset", "128", "--test-subset", "128", "--epochs", "1"),
    fast=("--profile", "cpu", "--recipe", "fast", "--train-subset", "256", "--test-subset", "128", "--epochs", "1"),
    fast_seeds=(0,),
    bench_archs=("nin", "lenet"),
    bench_flags=("--bench-resolution", "67", "--bench-batch", "32"),
    stack_archs=("lenet",),
)


@dataclass(frozen=True)
class Step:
    phase: str  # "chapter", "nin-fast", "throughput"
    label: str
    archs: tuple[str, ...]  # in the order they run
    seed: int | None = None  # a run step's one seed (None: the benchmarks)
    seeds: tuple[int, ...] = ()  # nin-fast: its seeds, one step
    flags: tuple[str, ...] = ()
    stack: tuple[str, ...] = ()  # throughput: the entries of the stacked-seeds comparison, after the compiled ones

    @property
    def benchmarks(self) -> bool:
        return self.phase == "throughput"


def steps(scale: Scale) -> list[Step]:
    """The slot's steps, most valuable first."""
    rest = tuple(a for a in CHAPTER if a != HEAVIEST)
    return [
        Step("chapter", "seed 0 of every required entry", CHAPTER, seed=0, flags=scale.chapter),
        Step("chapter", "seed 1 of all but full VGG-11", rest, seed=1, flags=scale.chapter),
        Step("chapter", "seed 2 of all but full VGG-11", rest, seed=2, flags=scale.chapter),
        Step("nin-fast", "NiN, the fast recipe: time to 0.90", ("nin",), seeds=scale.fast_seeds, flags=scale.fast),
        Step(
            "throughput",
            "step throughput and MFU, compiled; eager seeds stacked",
            scale.bench_archs,
            flags=scale.bench_flags,
            stack=scale.stack_archs,
        ),
        Step("chapter", "seeds 1 and 2 of full VGG-11", (HEAVIEST,), seeds=(1, 2), flags=scale.chapter),
    ]


@dataclass(frozen=True)
class Target:
    """The machine the slot is planned for: here, or (``--dry-run``) the GPU a machine without one plans for."""

    kind: str  # "cuda" or "cpu"
    device: str  # as the runs are given it: cuda, cpu
    name: str
    slug: str
    defaults: object  # its compute defaults (schema.compute.ComputePath)
    assumed: object  # budget.Assumed: the rate where this machine kind has no record


def target(device: str, dry_run: bool = False) -> Target:
    """The machine for ``device``; with ``dry_run`` and no CUDA here, the GPU this project is lent (an H200)."""
    import torch

    from benchmarks.measure import machine
    from benchmarks.run.budget import Assumed
    from benchmarks.schema.peaks import vendor_peak
    from benchmarks.train.compute import compute_defaults

    kind = torch.device(device).type
    if kind == "cuda" and dry_run and not torch.cuda.is_available():
        name, capability = ASSUMED_GPU, machine.Capability("cuda", True)
        slug = machine.gpu_slug(name)
    else:
        name, capability, slug = machine.device_name(device), machine.capability(device), machine.machine_slug(device)
    defaults = compute_defaults(capability)[0]
    peak = vendor_peak(name, defaults.precision, defaults.tf32) if kind == "cuda" else None
    if peak is None:
        rate, what = measured_matmul(device, defaults.precision)
        peak = rate, f"{what} measured now"
    basis = f"{ASSUMED_SHARE:.0%} of {peak[1]}"
    return Target(kind, device, name, slug, defaults, Assumed(ASSUMED_SHARE * peak[0], WARMUP_SECONDS[kind], basis))


def measured_matmul(device: str, precision: str) -> tuple[float, str]:
    """A quick dense matrix-product rate in the compute path's precision (a CPU has no vendor peak here)."""
    import torch

    from benchmarks.train.compute import DTYPES

    n, dtype = 1024, DTYPES[precision]
    a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
    torch.mm(a, b)
    repeats, start = 0, time.perf_counter()
    while time.perf_counter() - start < 0.3:
        torch.mm(a, b)
        repeats += 1
    rate = 2 * n**3 * repeats / (time.perf_counter() - start)
    return rate, f"this device's {precision} {n}x{n} matrix product, {rate / 1e9:,.0f} GFLOP/s"


def run_argv(step: Step, archs: tuple[str, ...], work: str, device: str, data: list[str],
             seeds: tuple[int, ...] | None = None) -> list[str]:  # fmt: skip
    """``python -m benchmarks`` arguments of a run step (``archs`` and ``seeds`` of its runs; by default all of
    them): its runs in one process (a process a run would cost a slot minutes), eager."""
    seeds = seeds or ((step.seed,) if step.seed is not None else step.seeds)
    return ["run", "--out", f"{work}/runs", "--device", device, "--no-isolate", "--no-compile", *step.flags,
            "--arch", *archs, "--seeds", *map(str, seeds), *data]  # fmt: skip


def bench_argv(archs: tuple[str, ...], storage: str, device: str, flags: tuple[str, ...],
               stack: tuple[str, ...] = ()) -> list[str]:  # fmt: skip
    """``python -m pytest`` arguments of the throughput step: the compiled training-step benchmarks of ``archs``,
    the matrix-product rate, and the eager step of ``stack``'s entries, one seed and seeds stacked; saved as
    pytest-benchmark JSON (saved on SIGTERM too: ``perf/conftest.py``)."""
    chosen = (["train_step"] if archs else []) + ["matmul_peak"] + (["chapter_step"] if stack else [])
    return ["perf/bench_throughput.py", "-q", "-k", " or ".join(chosen), "--bench-device", device,
            *(["--bench-arch", ",".join(archs)] if archs else []), *(["--bench-stack", ",".join(stack)] if stack else []),
            *flags, f"--benchmark-storage=file://{storage}", "--benchmark-autosave"]  # fmt: skip


@cache
def _run_parser() -> argparse.ArgumentParser:
    from benchmarks.run import options

    parser = argparse.ArgumentParser(allow_abbrev=False)
    options.add_arguments(parser)
    return parser


def configs(argv: list[str], t: Target) -> list:
    """The ``RunConfig`` of every run ``argv`` (a run step's) plans on ``t``, decided as the run command decides it
    (``profiles.resolve``, with the run command's own parser and overrides), without touching a device."""
    import archs
    from benchmarks.run import options as run_options
    from benchmarks.run.plan import run_overrides
    from benchmarks.run.profiles import PROFILES, resolve
    from benchmarks.train.compute import resolve_compute

    options = run_options.from_args(_run_parser().parse_args(argv[1:]))
    fast = resolve_compute(t.defaults, options.compute, exact=options.exact)
    profile = PROFILES[options.profile]
    return [resolve(archs.get_entry(name), profile, t.slug, t.kind, seed, fast, run_overrides(options))
            for name in options.arch for seed in options.seeds]  # fmt: skip


@cache
def counted_flops(arch: str, resolution: int) -> int:
    """Forward FLOPs of one example, counted on the meta device (shapes only: no memory, no compute)."""
    import torch

    import archs
    from benchmarks.measure.model_stats import forward_flops

    with torch.device("meta"):
        return forward_flops(archs.get_entry(arch).build(), resolution)


@cache
def _counted_step_flops(arch: str, optimizer: str) -> int:
    """The optimizer's own FLOPs a step (Muon's iterations), counted on the meta device."""
    import torch

    import archs
    from benchmarks.train.harness import optimizer_step_flops

    with torch.device("meta"):
        return optimizer_step_flops(archs.get_entry(arch).build(), optimizer)


def step_flops(config) -> int:
    return _counted_step_flops(config.arch, config.optimizer)


@dataclass(frozen=True)
class Planned:
    """One run of a step as planned now: its configuration, whether it is done, its predicted seconds."""

    config: object
    done: bool
    seconds: float | None


def predict(step_configs: list, finished: list, t: Target, done, record=None) -> list[Planned]:
    """Each run's prediction: done (a finished record is there), or its seconds by ``budget.estimate_seconds``,
    less the epochs a stopped run's checkpoint holds (``record(config)``: where its record goes)."""
    from benchmarks.run import budget

    def seconds(c):
        whole = budget.estimate_seconds(c, finished, counted_flops(c.arch, c.resolution), t.assumed, step_flops)
        return budget.still_to_run(c, whole, record(c)) if record else whole

    return [Planned(c, True, 0.0) if done(c) else Planned(c, False, seconds(c)) for c in step_configs]


def fit(planned: list[Planned], seconds_left: float) -> tuple[list[Planned], list[Planned]]:
    """(the runs started, the runs left out): in order, each run not done that fits in what the runs before it
    left; one that does not is left out, and a shorter one after it may still fit."""
    chosen, left_out, used = [], [], 0.0
    for p in planned:
        if p.done:
            continue
        need = p.seconds or 0.0
        if used + need <= seconds_left:
            chosen.append(p)
            used += need
        else:
            left_out.append(p)
    return chosen, left_out


def bench_costs(step: Step, kind: str) -> list[tuple[str, str, float]]:
    """The throughput step's benchmarks in their order of value, (what, entry, seconds): the compiled steps, then
    the stacked-seeds comparisons."""
    return ([("compiled", a, BENCH_SECONDS[kind]) for a in step.archs]
            + [("stacked", a, STACK_SECONDS[kind]) for a in step.stack])  # fmt: skip


def bench_fit(costs: list[tuple[str, str, float]], kind: str, seconds_left: float):
    """(the throughput step's benchmarks that fit, those left out), by ``fit``'s rule in their order of value, in
    what is left after the step's process starts."""
    chosen, left_out = fit([Planned(c, False, c[2]) for c in costs], seconds_left - START_SECONDS[kind])
    return [p.config for p in chosen], [p.config for p in left_out]


def forecast(costs: list[tuple[int, float, list[float]]], budgets: list[float]) -> list[tuple[int, float, list[int]]]:
    """What each of the slot's commands would run, as ``fit`` and the steps' order decide it: ``costs`` per step
    (its number, its process's start, its runs' seconds, the done ones left out); ``budgets`` each command's
    seconds. Per command: (runs, seconds, the steps it runs some of); what none runs is left for another."""
    left_over = [(step, start, list(runs)) for step, start, runs in costs if runs]
    out = []
    for budget in budgets:
        used, count, touched, after = 0.0, 0, [], []
        for step, start, runs in left_over:
            room = budget - used - start
            chosen, rest = fit([Planned(i, False, r) for i, r in enumerate(runs)], room)
            if chosen:
                used += start + sum(c.seconds for c in chosen)
                count += len(chosen)
                touched.append(step)
            if rest:
                after.append((step, start, [r.seconds for r in rest]))
        out.append((count, used, touched))
        left_over = after
    return out
