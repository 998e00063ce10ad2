"""The chapter's eager training step, ``--seeds`` seeds one after another against the same seeds stacked in one
step (``benchmarks/train/stacked.py``), side by side in one process: the operations each dispatches (a GPU launches
a kernel for nearly each) and the median seconds of the seeds' steps on this device.

    python perf/stacked_step.py [--arch lenet nin] [--seeds 3] [--repeats 10] [--precision bf16 fp32]

Each entry at the smoke profile's input side on a CPU (its own on CUDA) and its recipe's batch, d2l's SGD, the
machine's compute path less compilation, as the slot's chapter runs it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import archs  # noqa: E402
from benchmarks.measure import machine  # noqa: E402
from benchmarks.train.compute import compute_defaults  # noqa: E402
from benchmarks.train.harness import Trainer, TrainSettings, synchronize  # noqa: E402
from benchmarks.train.stacked import STACKED_SEEDS, StackedTrainer  # noqa: E402
from perf.bench_throughput import resolution_for  # noqa: E402
from perf.dispatch import dispatched  # noqa: E402


def contenders(arch: str, seeds: int, device: str, precision: str):
    """(one after another, stacked): each a function that runs one step of every seed."""
    entry = archs.get_entry(arch)
    fast = replace(compute_defaults(machine.capability(device))[0], compile=False, precision=precision)
    settings = TrainSettings(epochs=1, lr=entry.recipe.lr, device=device, fast=fast)
    side, batch = resolution_for(entry, device, None), entry.recipe.batch_size
    g = torch.Generator().manual_seed(0)
    x = torch.rand(seeds, batch, 1, side, side, generator=g).to(device)
    y = torch.randint(0, 10, (seeds, batch), generator=g).to(device)
    layout = torch.channels_last if fast.channels_last else torch.contiguous_format
    singles = [Trainer(entry.build(), replace(settings, seed=s)) for s in range(seeds)]
    xs = [x[i].contiguous(memory_format=layout) for i in range(seeds)]
    stacked = StackedTrainer(entry.build, settings, tuple(range(seeds)))

    def one_after_another():
        for trainer, xi, yi in zip(singles, xs, y):
            trainer.step(xi, yi)

    return {"one after another": one_after_another, "stacked": lambda: stacked.step(x, y)}, side, batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", nargs="+", default=["lenet", "nin"])
    parser.add_argument("--seeds", type=int, default=STACKED_SEEDS)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--precision", nargs="+", default=["bf16", "fp32"])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(f"{machine.machine_slug(args.device)}, torch {torch.__version__}, {args.seeds} seeds, eager, "
          f"{args.repeats} steps each, interleaved; ms: all the seeds' steps")  # fmt: skip
    print(
        "| entry | input | batch | precision | seeds | operations | median ms | min ms | stacked / one after another |"
    )
    print("|---|---:|---:|---|---|---:|---:|---:|---:|")
    for arch in args.arch:
        for precision in args.precision:
            fns, side, batch = contenders(arch, args.seeds, args.device, precision)
            for fn in fns.values():
                fn()  # first allocations, oneDNN's and cuDNN's choices: off the clock
            times = {name: [] for name in fns}
            for _ in range(args.repeats):  # interleaved, so that the machine's drift falls on both alike
                for name, fn in fns.items():
                    synchronize(args.device)
                    start = time.perf_counter()
                    fn()
                    synchronize(args.device)
                    times[name].append(time.perf_counter() - start)
            base = statistics.median(times["one after another"])
            for name, fn in fns.items():
                ts = times[name]
                print(f"| {arch} | {side} px | {batch} | {precision} | {name} | {dispatched(fn)} | "
                      f"{1e3 * statistics.median(ts):.1f} | {1e3 * min(ts):.1f} | "
                      f"{statistics.median(ts) / base:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
