"""``python -m benchmarks run``: train and time architectures, one run record per (architecture, config, seed).

The arguments become one ``RunOptions`` (``benchmarks.run.options``), every one of them checked before any training
starts (``benchmarks.run.plan``); the suite (``benchmarks.run.suite``) runs the plan.
"""

from __future__ import annotations

import argparse
import dataclasses

from benchmarks.run.options import RunOptions
from benchmarks.run.profiles import PROFILES
from benchmarks.run.suite import run_suite
from benchmarks.run.user_archs import add_import_argument
from benchmarks.train.compute import COMPILE_MODES, OPTIMIZER_IMPLS, OPTIMIZERS, PRECISIONS, ComputePath
from benchmarks.train.recipes import RECIPES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--arch",
        nargs="+",
        metavar="PATTERN",
        help="names or shell patterns (default: the profile's entries; '*' for every entry)",
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), help="default: full on CUDA, cpu on a CPU")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), help="default: the recipe's")
    parser.add_argument("--recipe", choices=RECIPES,
                        help="d2l: the book's, per entry; fast: one recipe for every entry (benchmarks/train/recipes.py); "
                             "default: the profile's (full: d2l, cpu: fast)")  # fmt: skip
    parser.add_argument("--recipe-set", dest="recipe_parts", action="append", default=[], metavar="FIELD=VALUE",
                        help="change one part of the recipe (repeatable), e.g. label_smoothing=0 or init=xavier; "
                             "the fields are benchmarks.train.recipes.TrainRecipe's")  # fmt: skip
    parser.add_argument("--resolution", type=int, help="input side in pixels")
    parser.add_argument("--device", help="cuda, cuda:N or cpu (default: cuda when present)")
    parser.add_argument(
        "--seed",
        "--seeds",
        dest="seeds",
        type=int,
        nargs="+",
        help="default: the profile's (cpu: 0 1 2; full and smoke: 0)",
    )
    parser.add_argument("--train-subset", type=int, metavar="N", help="a seeded subset of N training images")
    parser.add_argument("--test-subset", type=int, metavar="N", help="a seeded subset of N test images")
    fast = parser.add_argument_group("compute path (default: chosen for the machine; the plan says which and why)")
    fast.add_argument("--precision", choices=PRECISIONS)
    fast.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    fast.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    fast.add_argument("--compile-mode", choices=COMPILE_MODES)
    fast.add_argument("--optimizer-impl", choices=OPTIMIZER_IMPLS, help="how the optimizer step runs")
    fast.add_argument("--cudnn-benchmark", action=argparse.BooleanOptionalAction, default=None)
    fast.add_argument(
        "--tf32",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="TF32 for fp32 matmuls and convolutions (default: off, fp32 is fp32)",
    )
    fast.add_argument(
        "--exact",
        action="store_true",
        help="d2l's exact path: fp32 without TF32, NCHW, eager, a for-loop SGD step, no autotuning",
    )
    parser.add_argument("--synthetic", action="store_true", help="random data, for throughput only")
    parser.add_argument("--data-dir", help="folder holding the four Fashion-MNIST files")
    parser.add_argument("--out", default="results/runs", help="folder of run records (default: results/runs)")
    parser.add_argument("--force", action="store_true", help="rerun runs whose records exist")
    parser.add_argument("--oom-retry", action="store_true", help="after running out of memory, retry at half batch")
    parser.add_argument(
        "--ddp",
        action="store_true",
        help="under torchrun: train each run data-parallel over all ranks (default: deal the runs out)",
    )
    parser.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="each run in a process of its own (default: on CUDA only)",
    )
    parser.add_argument(
        "--run-timeout",
        type=float,
        metavar="SECONDS",
        help="stop an isolated run after this long and record it as timeout (default: no limit)",
    )
    parser.add_argument("--max-minutes", type=float, metavar="N",
                        help="start no run that the records say cannot finish within N minutes of the suite's start; "
                             "the same command resumes")  # fmt: skip
    add_import_argument(parser)
    cluster = parser.add_argument_group(
        "cluster (--executor slurm: one SLURM job per run, as a job array, via submitit)"
    )
    cluster.add_argument("--executor", choices=("local", "slurm"), default="local",
                         help="local: this process (default); slurm: the runs not done as a job array")  # fmt: skip
    cluster.add_argument("--slurm-partition", help="the partition (default: the cluster's default)")
    cluster.add_argument("--slurm-time", type=float, metavar="MINUTES", help="each job's time limit (default: 60)")
    cluster.add_argument("--slurm-gpus-per-job", type=int, metavar="N")
    cluster.add_argument("--slurm-cpus-per-job", type=int, metavar="N")
    cluster.add_argument("--slurm-option", dest="slurm_options", action="append", default=[], metavar="KEY=VALUE",
                         help="any other sbatch option, e.g. account=lab or qos=short (repeatable)")  # fmt: skip
    cluster.add_argument("--no-wait", action="store_true", help="submit, print the job ids, and return")


def options(args: argparse.Namespace) -> RunOptions:
    """The parsed command line as ``RunOptions``: lists become tuples, the compute-path flags one dict."""
    values = {}
    for f in dataclasses.fields(RunOptions):
        if f.name == "compute":
            values["compute"] = {c.name: getattr(args, c.name, None) for c in dataclasses.fields(ComputePath)}
        else:
            value = getattr(args, f.name)
            values[f.name] = tuple(value) if isinstance(value, list) else (() if value is None and f.name in (
                "arch", "seeds", "recipe_parts", "imports", "slurm_options") else value)  # fmt: skip
    return RunOptions(**values)


def main(args: argparse.Namespace) -> int:
    return run_suite(options(args))
