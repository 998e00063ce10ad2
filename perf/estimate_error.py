"""How well ``budget.estimate_seconds`` predicts a run of an entry that has no record of its own on its machine (every
entry, on a lent GPU's first command), for each rule of which other entries' rates stand in for its own.

Leave one entry out: for every machine and configuration in the committed records, its first seed is estimated
from the records of all machines less that entry's on this machine (other entries' rates; the FLOPs, which do not
depend on the machine, from any record; the optimizer's own FLOPs a step counted from the network, as the GPU
slot's plan counts them), and set against its measured wall time. The rules: the ``NEAREST_ENTRIES``
entries nearest in FLOPs an example, 1 and 2, and all of them (the rule before). ``python perf/estimate_error.py
[FOLDER]`` (default ``results/runs``) prints the table as markdown.

Then a run stopped part-way, resumed by a later command (``budget.still_to_run``): for every finished run of two
epochs or more and each epoch k before its last, as if its checkpoint held its first k epochs, its time left (its
measured epochs after k and one warm-up, its own) is estimated by the two rules: its first k epochs' pace (the rule
now), and its entry's estimate without its own records, as above, scaled to the epochs left (the rule before).

Last, a machine's first ``nox -s bench`` (the cpu profile, as the runner plans it today): each machine's runs of it
replayed in plan order, each estimated from every other machine's records and this machine's runs before it, as the
progress line gives it; by the rule now (an entry with no run here yet: the other machines' time of the same work,
scaled by this machine's against theirs, ``budget.from_other_machines``) and the rule before (the nearest entries'
rates here: after LeNet alone, LeNet's). Its last column is what the second run's line says of the suite's time left.
"""

from __future__ import annotations

import math
import statistics
import sys
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.run import budget, slot  # noqa: E402
from benchmarks.schema import records  # noqa: E402

RULES = {"nearest 1": 1, "nearest 2": 2, "all entries": 10**6}
NEAREST = budget.NEAREST_ENTRIES  # the rule in force (``estimate`` sets the module's value to each rule's)
# a new entry's first run: the other machines' time of the same work, scaled (now), or none of it (before)
FIRST_BENCH_RULES = {"now": budget.from_other_machines, "before": lambda *args: None}


@contextmanager
def first_run_rule(rule: str):
    """``budget.estimate_seconds`` with the ``FIRST_BENCH_RULES`` rule for an entry's first run on a machine."""
    budget.from_other_machines = FIRST_BENCH_RULES[rule]
    try:
        yield
    finally:
        budget.from_other_machines = FIRST_BENCH_RULES["now"]


def first_seeds(found: list) -> list:
    """Each machine's each configuration's lowest finished seed."""
    firsts = {}
    for r in sorted(found, key=lambda r: r.config.seed):
        firsts.setdefault((r.machine, r.run_id), r)
    return list(firsts.values())


def estimate(run, found: list, nearest: int) -> float | None:
    """By the nearest entries' rates on its machine alone: the other machines' time of the same work (none there
    on a lent GPU's first command) left out."""
    others = [r for r in found if not (r.machine == run.machine and r.arch == run.arch)]
    budget.NEAREST_ENTRIES = nearest
    with first_run_rule("before"):
        return budget.estimate_seconds(run.config, others, flops=run.flops, step_flops=slot.step_flops)


def stopped_runs(found: list) -> list[tuple[float, float, float, str]]:
    """(measured seconds left, by its saved epochs' pace, by the scaled estimate, profile) of every finished run at
    each epoch before its last: the time left of a run whose checkpoint held its first k epochs."""
    from dataclasses import asdict

    rows = []
    for run in found:
        epochs = run.epochs
        if len(epochs) < 2:
            continue
        whole = estimate(run, found, NEAREST)
        for k in range(1, len(epochs)):
            left = sum(e.wall_seconds for e in epochs[k:]) + (run.final.warmup_seconds or 0.0)
            state = {"epochs": [asdict(e) for e in epochs[:k]],
                     "segments": {"warmup_seconds": run.final.warmup_seconds or 0.0, "resumed_after": []}}  # fmt: skip
            own = budget.at_its_pace(run.config, state)  # what still_to_run gives from such a checkpoint
            scaled = whole * (run.config.epochs - k) / run.config.epochs if whole else None
            if scaled:
                rows.append((left, own, scaled, run.config.profile))
    return rows


def first_bench(found: list) -> dict[str, list]:
    """Each machine's records of the cpu profile's runs as the runner plans them today, in the plan's order."""
    import argparse

    from benchmarks.run import options as run_command
    from benchmarks.run import plan

    parser = argparse.ArgumentParser()
    run_command.add_arguments(parser)
    planned = plan.plan(run_command.from_args(parser.parse_args(["--device", "cpu", "--profile", "cpu"]))).configs
    order = {(budget.same_work(c), c.seed): i for i, c in enumerate(planned)}
    out = {}
    for r in found:
        if (budget.same_work(r.config), r.config.seed) in order:
            out.setdefault(r.machine, []).append(r)
    return {m: sorted(runs, key=lambda r: order[budget.same_work(r.config), r.config.seed])
            for m, runs in sorted(out.items()) if len(runs) == len(planned)}  # fmt: skip


def replayed(runs: list, found: list, rule: str) -> tuple[float, float, float]:
    """(median error, worst run as a factor, minutes of the rest estimated after the first run) of ``runs``, one
    machine's bench in order, each estimated from the other machines' records and the runs before it."""
    others = [r for r in found if r.machine != runs[0].machine]
    with first_run_rule(rule):
        guesses = [budget.estimate_seconds(r.config, others + runs[:k], flops=r.flops) for k, r in enumerate(runs)]
        rest = sum(budget.estimate_seconds(r.config, others + runs[:1], flops=r.flops) or 0.0 for r in runs[1:])
    factors = [g / r.final.wall_seconds for g, r in zip(guesses, runs) if g]
    return (statistics.median(abs(f - 1) for f in factors), max(max(f, 1 / f) for f in factors), rest / 60)


def main(folder: str = "results/runs") -> None:
    found = [r for r in records.read_records(Path(folder)) if r.status == "ok" and r.final and r.flops]
    rows = []
    for run in first_seeds(found):
        guesses = {rule: estimate(run, found, n) for rule, n in RULES.items()}
        if None not in guesses.values():
            rows.append((run, guesses))
    print(f"{len(rows)} first seeds, each estimated without its entry's records on its machine\n")
    print("| profile | runs | measured s | " + " | ".join(f"{rule}: s, median error" for rule in RULES) + " |")
    print("|---|---:|---:|" + "---:|" * len(RULES))
    for profile in [*sorted({run.config.profile for run, _ in rows}), "all"]:
        part = [(run, g) for run, g in rows if profile in ("all", run.config.profile)]
        measured = sum(run.final.wall_seconds for run, _ in part)
        cells = []
        for rule in RULES:
            errors = [abs(g[rule] / run.final.wall_seconds - 1) for run, g in part]
            cells.append(f"{sum(g[rule] for _, g in part):,.0f}, {statistics.median(errors):.0%}")
        print(f"| {profile} | {len(part)} | {measured:,.0f} | " + " | ".join(cells) + " |")
    worst = {rule: max(abs(math.log(g[rule] / run.final.wall_seconds)) for run, g in rows) for rule in RULES}
    print("\nworst single run, as a factor: " + ", ".join(f"{rule} {math.exp(w):.1f}x" for rule, w in worst.items()))

    stopped = stopped_runs(found)
    print(f"\n{len(stopped)} stopped runs (each finished run at each epoch before its last), their time left\n")
    print(
        "| profile | stops | measured s left | saved epochs' pace: s, median error | "
        f"scaled estimate (nearest {NEAREST}): s, median error |"
    )
    print("|---|---:|---:|---:|---:|")
    for profile in [*sorted({row[3] for row in stopped}), "all"]:
        part = [row for row in stopped if profile in ("all", row[3])]
        cells = [f"{sum(row[i] for row in part):,.0f}, {statistics.median(abs(row[i] / row[0] - 1) for row in part):.0%}"
                 for i in (1, 2)]  # fmt: skip
        print(f"| {profile} | {len(part)} | {sum(row[0] for row in part):,.0f} | {cells[0]} | {cells[1]} |")

    print(
        "\nA machine's first bench (the cpu profile), replayed in plan order: each run from the other machines' "
        "records and this machine's before it\n"
    )
    print(
        "| machine | runs | median error: now, before | worst run: now, before | after run 1, the rest: measured, "
        "now, before |"
    )
    print("|---|---:|---:|---:|---:|")
    for machine, runs in first_bench(found).items():
        rest = sum(r.final.wall_seconds for r in runs[1:]) / 60
        cells = {rule: replayed(runs, found, rule) for rule in FIRST_BENCH_RULES}
        now, before = cells["now"], cells["before"]
        print(
            f"| {machine} | {len(runs)} | {now[0]:.0%}, {before[0]:.0%} | {now[1]:.1f}x, {before[1]:.1f}x | "
            f"{rest:.0f}, {now[2]:.0f}, {before[2]:.0f} min |"
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
