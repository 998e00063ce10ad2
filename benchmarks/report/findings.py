"""The headline's answer in words, computed from the statistics its table shows: which entries a test cannot tell
apart (ranks with ties), how NiN's ablations differ from NiN and in which direction, and what the seeds could
have detected.

A rank is 1 + the number of entries whose accuracy is significantly higher (Welch's t-test on the seeds' test
accuracies, p < 0.05); entries sharing a rank are tied, shown ``=k``. The smallest difference a test of two arms
could detect (``detectable``) is the usual two-sided normal-approximation bound at 80% power, with Student-t
quantiles: (t(0.975) + t(0.80)) x sqrt(s1^2/n1 + s2^2/n2).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter

from scipy import stats as scipy_stats

from benchmarks.report import stats

POWER = 0.8


def _higher(a, b) -> bool:
    """Whether ``a``'s accuracy is significantly higher than ``b``'s (each needs ``stats.MIN_SEEDS`` counted)."""
    if a.n_learned < stats.MIN_SEEDS or b.n_learned < stats.MIN_SEEDS:
        return False
    d = stats.welch(a.accs, b.accs)
    return d.significant and d.difference > 0


def ranks(rows: list) -> list[int]:
    """Each row's rank: 1 + how many rows are significantly more accurate."""
    return [1 + sum(_higher(o, s) for o in rows if o is not s) for s in rows]


def ranked(rows: list) -> list[tuple[str, object]]:
    """(rank as shown, row), best rank first, then by mean: a rank shared by several rows reads ``=k``."""
    found = ranks(rows)
    shared = Counter(found)
    order = sorted(zip(found, rows), key=lambda p: (p[0], -p[1].test_acc, p[1].arch))
    return [(f"={r}" if shared[r] > 1 else str(r), s) for r, s in order]


def detectable(a: list[float], b: list[float]) -> float | None:
    """The smallest difference of means a Welch test of these two arms would find at p < 0.05 with 80% power, from
    their own spreads; None below two values an arm."""
    if len(a) < 2 or len(b) < 2:
        return None
    se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    df = len(a) + len(b) - 2
    return (scipy_stats.t.ppf(0.975, df) + scipy_stats.t.ppf(POWER, df)) * se


def _names(rows) -> str:
    return ", ".join(f"{s.label} {s.test_acc:.3f}" for s in rows)


def _points(x: float) -> str:
    return f"{x * 100:+.1f}"


def sentences(group, rows: list) -> list[str]:
    """The findings, as markdown bullets."""
    by_rank: dict[str, list] = {}
    for shown, s in ranked(rows):
        by_rank.setdefault(shown.lstrip("="), []).append(s)
    seeds = sorted({int(s.n_learned) for s in rows})
    n = f"n = {seeds[0]}" if len(seeds) == 1 else f"n = {seeds[0]}-{seeds[-1]}"
    out = [f"**What the records say** (Welch's t-test on the seeds' test accuracies, p < 0.05, {n} seeds an entry):"]
    groups = list(by_rank.items())
    top = groups[0][1]
    out.append(f"- Tied at the top (no entry is significantly more accurate than any of them): {_names(top)}."
               if len(top) > 1 else f"- Alone at the top: {_names(top)}.")  # fmt: skip
    for rank, members in groups[1:]:
        out.append(f"- Rank {rank} (each significantly below {int(rank) - 1} entr{'y' if rank == '2' else 'ies'}): "
                   f"{_names(members)}.")  # fmt: skip
    tests = [a for a in group.ablations if a["accuracy"] is not None]
    if tests:
        differ = [a for a in tests if a["accuracy"].significant]
        same = [a for a in tests if not a["accuracy"].significant]
        if differ:
            out.append("- NiN's ablations that differ from nin in accuracy: " + "; ".join(
                f"{a['ablation'].label} {_points(a['accuracy'].difference)} points "
                f"({'better' if a['accuracy'].difference > 0 else 'worse'}, p = {a['accuracy'].p_value:.3f})"
                for a in differ) + ".")  # fmt: skip
        if same:
            parts = []
            for a in same:
                d, mdd = a["accuracy"], detectable(list(a["ablation"].accs), list(a["nin"].accs))
                parts.append(f"{a['ablation'].label} {_points(d.difference)} [{_points(d.low)}, {_points(d.high)}]"
                             + (f", detectable from {mdd * 100:.0f}" if mdd is not None else ""))  # fmt: skip
            out.append("- Not told apart from nin in accuracy (difference in points, its 95% interval, and the "
                       "smallest difference these seeds could detect at 80% power): " + "; ".join(parts) + ".")  # fmt: skip
    faster = [a for a in group.ablations if a["throughput"] is not None and a["throughput"].significant]
    if faster:
        out.append("- In training throughput: " + "; ".join(
            f"{a['ablation'].label} {a['throughput'].difference / a['nin'].train_eps:+.0%} against nin"
            for a in faster) + " (significant).")  # fmt: skip
    untested = [a for a in group.ablations if a["accuracy"] is None and a["reason"]]
    for a in untested:
        out.append(f"- {a['ablation'].label}: no accuracy test, {a['reason']}.")
    if len(top) > 1 or (tests and not [a for a in tests if a["accuracy"].significant]):
        out.append("- So these seeds do not rank the tied entries: more seeds, or a budget at which the seeds agree, "
                   "would.")  # fmt: skip
    return out
