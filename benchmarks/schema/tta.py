"""Time to accuracy, the field's training metric (DAWNBench, MLPerf): training seconds until the test accuracy
first reaches a target, read from a run's evaluation log; across seeds, the median and MLPerf's olympic mean.

Training seconds are the step clock: training steps only. The evaluations are timed apart, and the warm-up (each
batch shape once: compilation, autotuning) is recorded beside it (``Final.warmup_seconds``, with the compile
cache's state, cold or warm), as MLPerf leaves initialisation off its clock; records from before the step clock
(``Final.tta_clock`` None) counted the warm-up in. A run that never reaches a target counts as not reached (infinitely slow), never as missing.
"""

from __future__ import annotations

import math
import statistics

TARGETS = (0.85, 0.90, 0.92)
OLYMPIC_MIN = 5  # MLPerf: with at least 5 runs, drop the fastest and the slowest


def key(target: float) -> str:
    return f"{target:.2f}"


def time_to(evals, target: float) -> float | None:
    """The training seconds at the first evaluation whose accuracy reaches ``target``; None if none does."""
    return next((e.train_seconds for e in evals if e.test_acc >= target), None)


def times_to_targets(evals) -> dict[str, float | None]:
    return {key(t): time_to(evals, t) for t in TARGETS} if evals else {}


def across_seeds(times: list[float | None]) -> tuple[float | None, float | None, int]:
    """(median, olympic mean, runs not reached) over seeds; None where the statistic is "not reached" (more than
    half the runs for the median; any kept run for the olympic mean) or, for the olympic mean, below 5 runs."""
    values = sorted(math.inf if t is None else t for t in times)
    missed = sum(math.isinf(v) for v in values)
    if not values:
        return None, None, 0
    median = statistics.median(values)
    olympic = None
    if len(values) >= OLYMPIC_MIN:
        kept = values[1:-1]
        olympic = math.inf if any(math.isinf(v) for v in kept) else sum(kept) / len(kept)
    finite = lambda v: None if v is None or math.isinf(v) else v  # noqa: E731
    return finite(median), finite(olympic), missed
