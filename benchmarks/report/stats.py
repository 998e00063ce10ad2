"""Accuracy as a result: confidence intervals over seeds, runs that did not learn, and ablations as Welch tests.

Statistics come from scipy.stats: Student's t for the interval of a mean over seeds, Welch's t-test (unequal
variances) for the difference of two arms, with its confidence interval.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy import stats

CONFIDENCE = 0.95
CHANCE = 0.10  # ten classes
LEARNED_ABOVE = CHANCE + 0.05  # a test accuracy at or below this did not leave chance: "did not learn"
MIN_SEEDS = 3  # an ablation needs this many learned seeds in each arm


def learned(test_acc: float) -> bool:
    return test_acc > LEARNED_ABOVE


@dataclass(frozen=True)
class MeanCI:
    mean: float
    half_width: float | None  # None with one value: no interval
    n: int

    def text(self, digits: int = 3) -> str:
        if self.half_width is None:
            return f"{self.mean:.{digits}f} (n={self.n})"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f} (n={self.n})"


def mean_ci(values: list[float], confidence: float = CONFIDENCE) -> MeanCI | None:
    """Mean and the half width of its Student-t confidence interval; None for no values."""
    values = [float(v) for v in values]
    if not values:
        return None
    n = len(values)
    mean = sum(values) / n
    if n == 1:
        return MeanCI(mean, None, 1)
    sem = stats.sem(values)
    if sem == 0:
        return MeanCI(mean, 0.0, n)
    low, _ = stats.t.interval(confidence, n - 1, loc=mean, scale=sem)
    return MeanCI(mean, mean - float(low), n)


@dataclass(frozen=True)
class Difference:
    """``a`` minus ``b``: Welch's t-test and the confidence interval of the difference of the means."""

    difference: float
    low: float
    high: float
    p_value: float
    n_a: int
    n_b: int

    @property
    def significant(self) -> bool:
        return self.p_value < 1 - CONFIDENCE


def welch(a: list[float], b: list[float], confidence: float = CONFIDENCE) -> Difference:
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    if len(set(a)) == 1 and len(set(b)) == 1:  # both arms without spread: the difference is exact, or there is none
        diff = mean_a - mean_b
        return Difference(diff, diff, diff, 0.0 if diff else 1.0, len(a), len(b))
    result = stats.ttest_ind(a, b, equal_var=False)
    interval = result.confidence_interval(confidence)
    return Difference(mean_a - mean_b, float(interval.low), float(interval.high), float(result.pvalue), len(a), len(b))
