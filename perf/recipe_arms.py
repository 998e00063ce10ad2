"""The recipe ablation's table (issue 36): each arm's NiN seeds against today's recipe, Welch's test, Holm's
correction for the number of arms. ``python perf/recipe_arms.py [FOLDER]`` prints it as markdown.

FOLDER (default ``results/recipe-ablation/issue36``) holds one records folder per arm, named ``<letter>-<what>``;
the arm whose name ends in ``today`` is the baseline. Only ok records count. An arm may hold several machines'
records (one folder each): every machine gets a table of its own, since a difference holds only where both arms
ran on one machine; on a machine, an arm's records must share one configuration.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.schema import records  # noqa: E402


def arms(folder: Path, machine: str) -> dict[str, list]:
    found = {arm.name: [r for r in records.read_records(arm) if r.status == "ok" and r.machine == machine]
             for arm in sorted(p for p in folder.iterdir() if p.is_dir())}  # fmt: skip
    return {name: runs for name, runs in found.items() if runs}  # an arm under way, with no finished run yet: none


def machines(folder: Path) -> list[str]:
    return sorted({p.name for arm in folder.iterdir() if arm.is_dir() for p in arm.iterdir() if p.is_dir()})


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * len(pvalues), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def table(folder: Path, machine: str) -> str:
    found = arms(folder, machine)
    base_name = next(name for name in found if name.endswith("today"))
    base = [r.final.test_acc for r in found[base_name]]
    rows, pvalues = [], []
    for name, runs in found.items():
        accs = [r.final.test_acc for r in sorted(runs, key=lambda r: r.config.seed)]
        assert len({r.run_id for r in runs}) <= 1, f"{name}: one configuration an arm on a machine"
        p = None if name == base_name or len(accs) < 2 else stats.ttest_ind(accs, base, equal_var=False).pvalue
        rows.append((name, accs, p, runs))
        if p is not None:
            pvalues.append(p)
    adjusted = iter(holm(pvalues))
    lines = ["| arm | seeds | n | mean | sd | worst seed | Δ mean | Welch p | Holm p | training s (shared CPU: no timing) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, accs, p, runs in rows:
        sd = statistics.stdev(accs) if len(accs) > 1 else float("nan")
        seconds = statistics.median(r.final.train_seconds for r in runs) if runs else float("nan")
        seeds = ",".join(str(r.config.seed) for r in sorted(runs, key=lambda r: r.config.seed))
        delta = "" if p is None else f"{(statistics.mean(accs) - statistics.mean(base)) * 100:+.1f}"
        lines.append(f"| {name} | {seeds} | {len(accs)} | {statistics.mean(accs):.3f} | {sd:.3f} | {min(accs):.3f} | "
                     f"{delta} | {'' if p is None else f'{p:.3f}'} | {'' if p is None else f'{next(adjusted):.3f}'} | "
                     f"{seconds:.0f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "results/recipe-ablation/issue36")
    for name in machines(root):
        sys.stdout.write(f"\n{name}:\n\n{table(root, name)}")
