"""``--max-minutes``: how long a planned run will take, by the suite's own records, so that a suite with a time
limit (a GPU lent for ten-minute commands) starts no run it cannot finish and stops cleanly; the same command
then resumes where it stopped.

The estimate of a run is, in order: the median wall time of finished seeds of the same configuration on this
machine; else the rate this machine reached on other configurations, in seconds per forward FLOP per example per
epoch (the median over its finished runs), times this run's FLOPs, examples and epochs; else none, and the run is
started (nothing says it cannot finish).
"""

from __future__ import annotations

import statistics

import torch

import archs
from benchmarks.measure.model_stats import forward_flops
from benchmarks.records import RunRecord
from benchmarks.run.config import RunConfig

DEFAULT_TRAIN, DEFAULT_TEST = 60_000, 10_000


def planned_flops(config: RunConfig) -> int:
    """Forward FLOPs of one example, counted on the meta device (no memory, no arithmetic)."""
    with torch.device("meta"):
        model = archs.get_model(config.arch)
    return forward_flops(model, config.resolution)


def _work(flops: float, train: int, test: int, epochs: int) -> float:
    """Forward-FLOP-examples of a run: a training example costs 3 forward passes, an evaluated one 1."""
    return flops * (3 * train + test) * epochs


def estimate_seconds(config: RunConfig, finished: list[RunRecord]) -> float | None:
    mine = [r for r in finished if r.machine == config.machine and r.final is not None]
    same = [r.final.wall_seconds for r in mine if r.run_id == config.run_id()]
    if same:
        return statistics.median(same)
    rates = [
        r.final.wall_seconds / _work(r.flops, r.data.train_examples, r.data.test_examples, r.config.epochs)
        for r in mine if r.flops and r.config.data == config.data
    ]  # fmt: skip
    if not rates:
        return None
    train = config.train_subset or DEFAULT_TRAIN
    test = config.test_subset or DEFAULT_TEST
    return statistics.median(rates) * _work(planned_flops(config), train, test, config.epochs)
