"""``--max-minutes``: how long a planned run will take, by the suite's own records, so that a suite with a time
limit (a GPU lent for ten-minute commands) starts no run it cannot finish and stops cleanly; the same command
then resumes where it stopped.

The estimate of a run is, in order: the median wall time of finished seeds of the same configuration on this
machine; else the rate this machine reached on other configurations, in seconds per forward FLOP per example per
epoch (the median over its finished runs), times this run's FLOPs (as a record of the same entry at the same input
size gives them: the suite's process runs no model code), examples and epochs; else none, and the run is started
(nothing says it cannot finish). The same estimates are what the plan prints, per run and in total.
"""

from __future__ import annotations

import statistics

from benchmarks.records import RunRecord
from benchmarks.run.config import RunConfig

DEFAULT_TRAIN, DEFAULT_TEST = 60_000, 10_000


def planned_flops(config: RunConfig, known: list[RunRecord]) -> int | None:
    """Forward FLOPs of one example, as a record of the same entry at the same input size counted them (any
    machine's: FLOPs do not depend on it); None where no record has them."""
    return next((r.flops for r in known if r.arch == config.arch and r.config.resolution == config.resolution
                 and r.flops), None)  # fmt: skip


def _work(flops: float, train: int, test: int, epochs: int) -> float:
    """Forward-FLOP-examples of a run: a training example costs 3 forward passes, an evaluated one 1."""
    return flops * (3 * train + test) * epochs


def estimate_seconds(config: RunConfig, finished: list[RunRecord]) -> float | None:
    """The run's wall seconds by ``finished`` (records of any machine; this machine's give the rates)."""
    mine = [r for r in finished if r.machine == config.machine and r.final is not None]
    same = [r.final.wall_seconds for r in mine if r.run_id == config.run_id()]
    if same:
        return statistics.median(same)
    scaled = [r for r in mine if r.flops and r.config.data == config.data]
    # the warm-up (compilation, autotuning) does not grow with FLOPs or epochs: scaled apart, as a constant
    rates = [
        (r.final.wall_seconds - (r.final.warmup_seconds or 0.0))
        / _work(r.flops, r.data.train_examples, r.data.test_examples, r.config.epochs)
        for r in scaled
    ]  # fmt: skip
    flops = planned_flops(config, finished)
    if not rates or not flops:
        return None
    train = config.train_subset or DEFAULT_TRAIN
    test = config.test_subset or DEFAULT_TEST
    warmup = statistics.median(r.final.warmup_seconds or 0.0 for r in scaled)
    return statistics.median(rates) * _work(flops, train, test, config.epochs) + warmup
