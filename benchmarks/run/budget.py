"""``--max-minutes``: how long a planned run will take, by the suite's own records, so that a suite with a time
limit (a GPU lent for ten-minute commands) starts no run it cannot finish and stops cleanly; the same command
then resumes where it stopped.

The estimate of a run is, in order: the median wall time of finished seeds of the same configuration on this
machine; else the rate this machine reached on other configurations of the same entry, in seconds per FLOP of a
run's work, times this run's work, counted from its FLOPs (as a record of the same entry at the same input size
gives them: the suite's process runs no model code); else, where other machines ran the same work, their time of it
scaled by this machine's against theirs on the works both ran (``from_other_machines``); else the rate of the
``NEAREST_ENTRIES`` entries nearest to it in FLOPs an example (how well a device is used grows with a layer's work,
so LeNet's rate, bound by its steps, stands in for no larger network where a nearer one is there); else none, and
the run is started (nothing says it cannot finish). The same estimates are what the plan prints, per run and in
total. On a machine's first ``nox -s bench``, after LeNet alone, the rest of the suite came out at 6-11x its
measured minutes by LeNet's rate and at 0.6-1.4x by the other machines' times (``perf/estimate_error.py``).

A run's work is its forward FLOPs times its examples: a training example 3 forward passes, an evaluated one 1, the
test set as often an epoch as the recipe evaluates it (the fast recipe: 4 times); and the optimizer's own FLOPs each
step (Muon's Newton-Schulz iterations: on NiN at 67 px about three quarters of a batch of 64's training FLOPs), as a
record of the same entry and optimizer gives them. Measured on the cpu profile's 42 runs, from the records of other
configurations only, the two (the entry's own rate, Muon's FLOPs) took the median error of a run's estimate from 33%
to 17%; an entry with no record of its own on the machine (every entry on a lent GPU's first command), from the
nearest entries' rates instead of all of them, from 33% to 14% (``perf/estimate_error.py``, both in
``benchmarks/PERFORMANCE.md``). A caller that knows more (the GPU slot's plan, ``benchmarks.run.slot``) may
hand over the FLOPs it counted, a step's optimizer FLOPs and an ``Assumed`` rate for a machine without records: the
estimate then says it rests on that assumption. A run stopped part-way, whose checkpoint its run would resume, is
estimated from its own saved epochs instead (``still_to_run``): their pace on this machine, 6% median error against
46% for the entry's estimate scaled to its epochs left (``perf/estimate_error.py``).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from benchmarks.schema.config import SPLITS, RunConfig
from benchmarks.schema.peaks import TRAIN_PASSES
from benchmarks.schema.records import RunRecord
from benchmarks.train import checkpoint

DEFAULT_TRAIN, DEFAULT_TEST = SPLITS["train"], SPLITS["test"]
NEAREST_ENTRIES = 2  # whose rates stand in for an entry's own (measured against 1 and all: perf/estimate_error.py)


@dataclass(frozen=True)
class Assumed:
    """A rate taken on trust where this machine has no finished run yet, and what it rests on."""

    flops_per_second: float  # model FLOPs (forward FLOPs x 3 a training example, x 1 an evaluated one) per second
    warmup_seconds: float  # a run's warm-up (autotuning, compilation), which does not scale with FLOPs
    basis: str  # "20% of H200 SXM dense bf16 989.4 TFLOP/s (vendor datasheet)"


def planned_flops(config: RunConfig, known: list[RunRecord]) -> int | None:
    """Forward FLOPs of one example, as a record of the same entry at the same input size counted them (any
    machine's: FLOPs do not depend on it); None where no record has them."""
    return next((r.flops for r in known if r.arch == config.arch and r.config.resolution == config.resolution
                 and r.flops), None)  # fmt: skip


def planned_optimizer_flops(config: RunConfig, known: list[RunRecord], step_flops=None) -> int:
    """The optimizer's own FLOPs a step: as a record of the same entry and optimizer counted them, else as the
    caller counts them (``step_flops(config)``), else none counted."""
    counted = next((r.optimizer_flops for r in known if r.arch == config.arch
                    and r.config.optimizer == config.optimizer and r.optimizer_flops is not None), None)  # fmt: skip
    if counted is not None:
        return counted
    return step_flops(config) if step_flops else 0


def nearest_entries(known: list[RunRecord], flops: int) -> list[RunRecord]:
    """The records of the ``NEAREST_ENTRIES`` entries (an entry at one input size) nearest to ``flops`` forward FLOPs an
    example, by their ratio (3x more and 3x fewer are as near)."""
    sizes = sorted({(r.arch, r.flops) for r in known}, key=lambda e: (abs(math.log(e[1] / flops)), e))  # ties: by name
    nearest = set(sizes[:NEAREST_ENTRIES])
    return [r for r in known if (r.arch, r.flops) in nearest]


def same_work(config: RunConfig) -> RunConfig:
    """A run's work, on whichever machine: its configuration less where it runs (the machine, and the compute path,
    which each machine decides for itself) and its seed."""
    return dataclasses.replace(config, machine="", fast=None, seed=0)


def from_other_machines(config: RunConfig, finished: list[RunRecord]) -> float | None:
    """The run's seconds on this machine by the other machines that ran the same work (``same_work``): on each, its
    median wall seconds times this machine's against that one's on the works both ran of the ``NEAREST_ENTRIES``
    entries nearest to it (``nearest_entries``; the median of their ratios); the median over those machines. None
    where no other machine ran it, or none ran anything this machine ran."""
    by_machine: dict[str, dict[RunConfig, list[RunRecord]]] = {}
    for r in finished:
        if r.final is not None and r.flops:
            by_machine.setdefault(r.machine, {}).setdefault(same_work(r.config), []).append(r)
    here, target = by_machine.pop(config.machine, {}), same_work(config)
    guesses = []
    for _, there in sorted(by_machine.items()):
        both = [r for work, runs in here.items() if work in there for r in runs]
        if target not in there or not both:
            continue
        nearest = {same_work(r.config) for r in nearest_entries(both, there[target][0].flops)}
        ratios = [seconds(here[work]) / seconds(there[work]) for work in nearest]
        guesses.append(seconds(there[target]) * statistics.median(ratios))
    return statistics.median(guesses) if guesses else None


def seconds(runs: list[RunRecord]) -> float:
    return statistics.median(r.final.wall_seconds for r in runs)


def _work(config: RunConfig, flops: float, train: int, test: int, optimizer_flops: int) -> float:
    """FLOPs of a run: a training example costs 3 forward passes, an evaluated one 1, each evaluation of the test
    set counted; and the optimizer's own FLOPs each step."""
    steps = -(-train // config.batch_size) * config.epochs
    examples = (TRAIN_PASSES * train + config.recipe.evals_per_epoch * test) * config.epochs
    return flops * examples + optimizer_flops * steps


def estimate_seconds(config: RunConfig, finished: list[RunRecord], flops: int | None = None,
                     assumed: Assumed | None = None, step_flops=None) -> float | None:  # fmt: skip
    """The run's wall seconds by ``finished`` (records of any machine; this machine's give the rates); ``flops``
    (forward FLOPs of one example, counted by the caller) where no record has them; ``step_flops`` (a config's
    optimizer FLOPs a step) where the caller counts them; ``assumed`` where this machine has no rate of its own."""
    mine = [r for r in finished if r.machine == config.machine and r.final is not None]
    same = [r.final.wall_seconds for r in mine if r.run_id == config.run_id()]
    if same:
        return statistics.median(same)
    flops = planned_flops(config, finished) or flops
    if not flops:
        return None
    scaled = [r for r in mine if r.flops and r.config.data == config.data]
    own = [r for r in scaled if r.arch == config.arch]
    if not own:  # another machine's time of the same work, scaled, before another entry's rate on this one
        elsewhere = from_other_machines(config, finished)
        if elsewhere is not None:
            return elsewhere
    # an entry's own rate first, else its nearest entries': LeNet's rate is not NiN's
    scaled = own or nearest_entries(scaled, flops)
    # the warm-up (compilation, autotuning) does not grow with FLOPs or epochs: scaled apart, as a constant
    rates = [
        (r.final.wall_seconds - (r.final.warmup_seconds or 0.0))
        / _work(r.config, r.flops, r.data.train_examples, r.data.test_examples,
                r.optimizer_flops if r.optimizer_flops is not None else
                planned_optimizer_flops(r.config, finished, step_flops))
        for r in scaled
    ]  # fmt: skip
    if not (rates or assumed):
        return None
    work = _work(
        config,
        flops,
        config.train_subset or DEFAULT_TRAIN,
        config.test_subset or DEFAULT_TEST,
        planned_optimizer_flops(config, finished, step_flops),
    )
    if not rates:
        return work / assumed.flops_per_second + assumed.warmup_seconds
    warmup = statistics.median(r.final.warmup_seconds or 0.0 for r in scaled)
    return statistics.median(rates) * work + warmup


def still_to_run(config: RunConfig, seconds: float | None, record: Path) -> float | None:
    """A run's ``seconds`` (its estimate), or, where a checkpoint beside its ``record`` would resume it
    (``benchmarks.train.checkpoint``), its epochs left at the pace of its saved ones (their mean wall seconds,
    evaluation included) plus one warm-up as its processes' took: the run's own rate on this machine, better
    evidence than other configurations' (``perf/estimate_error.py``)."""
    state = checkpoint.resumable(record, config)
    return seconds if state is None or not state["epochs"] else at_its_pace(config, state)


def at_its_pace(config: RunConfig, state: dict) -> float:
    """The seconds left of ``config``'s run from a saved ``state`` holding one epoch or more: its epochs left at
    their mean wall seconds, and one warm-up as its processes' took."""
    epochs, segments = state["epochs"], state["segments"]
    warmup = segments["warmup_seconds"] / (len(segments["resumed_after"]) + 1)  # each process warms up once
    return statistics.fmean(e["wall_seconds"] for e in epochs) * (config.epochs - len(epochs)) + warmup
