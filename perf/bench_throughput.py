"""pytest-benchmark: steady-state training-step and inference throughput of every registry entry, and the
device's matrix-product peak measured in the same run, from which the leaderboard computes MFU; with
``--bench-stack``, the chapter's eager step of one seed against three stacked in one step (``test_chapter_step``).

Run: ``pytest perf/bench_throughput.py --benchmark-autosave``
(``nox -s bench`` runs it with the results under ``results/benchmarks`` and compares against the last save).
Each timed call ends with a device synchronize, so a round measures finished work. Each model is built,
warmed up (compilation, cuDNN autotuning) and torn down in its own test, so one cannot skew the next.
"""

from __future__ import annotations

import fnmatch
import gc
from dataclasses import replace

import pytest
import torch

import archs
from benchmarks.measure.model_stats import forward_flops
from benchmarks.run.profiles import PROFILES, profile_resolution
from benchmarks.schema.compute import ComputePath
from benchmarks.schema.peaks import TRAIN_PASSES
from benchmarks.train.compute import autocast
from benchmarks.train.harness import Trainer, TrainSettings, synchronize
from benchmarks.train.stacked import STACKED_SEEDS, StackedTrainer

WARMUP_STEPS = 3
MATMUL_SIDE = {"cuda": 8192, "cpu": 2048}


def settings_for(device: str, fast: ComputePath) -> TrainSettings:
    return TrainSettings(epochs=1, lr=0.01, device=device, fast=fast)


def resolution_for(entry, device: str, option: int | None) -> int:
    if option:
        return max(option, entry.min_input_size) if entry.max_input_size is None else entry.input_size
    if torch.device(device).type == "cuda":
        return entry.input_size
    return profile_resolution(entry, PROFILES["smoke"])


def selected(pattern: str | None) -> list[str]:
    """The entries ``pattern`` names: shell patterns, comma-separated (``nin,alexnet,vgg11``)."""
    patterns = pattern.split(",") if pattern else None
    return [n for n in archs.list_models() if patterns is None or any(fnmatch.fnmatchcase(n, p) for p in patterns)]


@pytest.fixture
def clean_device(device):
    yield
    gc.collect()
    torch._dynamo.reset()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def make_case(name: str, device: str, config, fast: ComputePath):
    entry = archs.get_entry(name)
    settings = settings_for(device, fast)
    resolution = resolution_for(entry, device, config.getoption("--bench-resolution"))
    batch = config.getoption("--bench-batch") or entry.recipe.batch_size
    trainer = Trainer(entry.build(), settings)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 1, resolution, resolution, generator=g).to(device)
    if fast.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    info = {
        "arch": name, "resolution": resolution, "batch_size": batch, "precision": fast.precision,
        "fast_path": fast.__dict__,
        "forward_flops_per_example": forward_flops(trainer.model, resolution),
    }  # fmt: skip
    return trainer, x, y, info


def rounds_for(device: str) -> int:
    return 20 if device.startswith("cuda") else 3


def steps_per_round(device: str) -> int:
    """Steps timed back to back in one round, one synchronize at its end: on a GPU one step per round would time
    the launch latency and the sync, not the loop's rate (a small model's step is well under a millisecond)."""
    return 10 if device.startswith("cuda") else 1


def measure(benchmark, fn, info: dict, kind: str, passes: int, device: str, seeds: int = 1) -> None:
    """Warm ``fn`` up, time it, and store examples/sec and model FLOPs/sec (``passes`` forwards per example).
    ``fn`` runs ``steps_per_round(device)`` steps and synchronizes once; a step trains ``seeds`` networks, each on
    a batch of its own, and examples/sec counts every seed's."""
    for _ in range(WARMUP_STEPS):
        fn()
    steps = steps_per_round(device)
    benchmark.extra_info.update(info, kind=kind, steps_per_round=steps, seeds=seeds)
    benchmark.pedantic(fn, rounds=rounds_for(device), iterations=1)
    eps = steps * seeds * info["batch_size"] / benchmark.stats.stats.median  # the median, as for the matmul rate
    benchmark.extra_info["examples_per_sec"] = eps
    benchmark.extra_info["model_flops_per_sec"] = passes * info["forward_flops_per_example"] * eps


@pytest.mark.parametrize("name", selected(None))
def test_train_step(benchmark, name, device, fast, pytestconfig, clean_device):
    if name not in selected(pytestconfig.getoption("--bench-arch")):
        pytest.skip("not selected by --bench-arch")
    trainer, x, y, info = make_case(name, device, pytestconfig, fast)

    def step():
        for _ in range(steps_per_round(device)):
            trainer.step(x, y)
        synchronize(device)

    measure(benchmark, step, info, "train_step", passes=TRAIN_PASSES, device=device)


@pytest.mark.parametrize("name", selected(None))
def test_inference(benchmark, name, device, fast, pytestconfig, clean_device):
    if name not in selected(pytestconfig.getoption("--bench-arch")):
        pytest.skip("not selected by --bench-arch")
    trainer, x, _, info = make_case(name, device, pytestconfig, fast)
    trainer.model.eval()

    @torch.inference_mode()
    def infer():
        with autocast(trainer.settings.device, trainer.settings.fast.precision):
            for _ in range(steps_per_round(device)):
                trainer.forward(x)
        synchronize(device)

    measure(benchmark, infer, info, "inference", passes=1, device=device)


def test_matmul_peak(benchmark, device, fast, clean_device):
    """The device's dense matrix-product rate in the fast path's precision: the denominator of MFU."""
    precision = fast.precision
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision]
    n = MATMUL_SIDE[torch.device(device).type]
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    repeats = 10 if device.startswith("cuda") else 2

    def matmuls():
        for _ in range(repeats):
            torch.mm(a, b)
        synchronize(device)

    matmuls()
    benchmark.extra_info.update(kind="matmul_peak", precision=precision, side=n, repeats=repeats,
                                statistic="median round, for the steps and the matrix products alike")  # fmt: skip
    benchmark.pedantic(matmuls, rounds=rounds_for(device) + 2, iterations=1)
    benchmark.extra_info["flops_per_sec"] = 2 * n**3 * repeats / benchmark.stats.stats.median


@pytest.mark.parametrize("seeds", (1, STACKED_SEEDS))
@pytest.mark.parametrize("name", selected(None))
def test_chapter_step(benchmark, name, seeds, device, fast, pytestconfig, clean_device):
    """The step the slot's chapter runs (eager: the defaults less compilation), one seed against ``STACKED_SEEDS``
    seeds stacked in one step (``benchmarks.train.stacked``), examples/sec of all its seeds together: stacking
    would pay for the chapter where the stacked rate is above the single one."""
    chosen = pytestconfig.getoption("--bench-stack")
    if not chosen or name not in selected(chosen):
        pytest.skip("not selected by --bench-stack")
    eager = replace(fast, compile=False)
    trainer, x, y, info = make_case(name, device, pytestconfig, eager)
    if seeds > 1:
        g = torch.Generator().manual_seed(1)
        x = torch.rand(seeds, *x.shape, generator=g).to(device)
        y = torch.randint(0, 10, (seeds, len(y)), generator=g).to(device)
        trainer = StackedTrainer(archs.get_entry(name).build, settings_for(device, eager), tuple(range(seeds)))

    def step():
        for _ in range(steps_per_round(device)):
            trainer.step(x, y)
        synchronize(device)

    measure(benchmark, step, info, "chapter_step", passes=TRAIN_PASSES, device=device, seeds=seeds)
