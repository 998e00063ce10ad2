"""The suite: plan every run, say what it will do, hand the runs to the launcher (``benchmarks.run.launcher``: in
this process, each in a process of its own, or SLURM jobs; torchrun around any of the local ones), then the
summary and the exit status.

A suite resumes: runs whose records exist and are complete are skipped (``--force`` reruns them). One run that
diverges, runs out of memory or raises is recorded as such and the suite goes on; the exit status is 1 if any run
failed.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.errors import UsageError
from benchmarks.run import budget
from benchmarks.run.launcher import Suite, launcher_for
from benchmarks.run.options import RunOptions
from benchmarks.run.plan import check_writable, describe_plan, plan, resolve_device
from benchmarks.schema import records
from benchmarks.train import distributed


def run_suite(args: RunOptions) -> int:
    started = time.monotonic()
    w = distributed.world()
    distributed.bind_device(w, args.device)  # first: before the plan's CUDA queries
    launcher = launcher_for(args, resolve_device(args.device))
    launcher.check(args)  # before anything is planned, loaded or submitted
    if launcher.ranks > 1:  # planned as the job's torchrun will plan it: one run over all its ranks
        w = distributed.World(size=launcher.ranks)
    p = plan(args, w, isolate=launcher.isolated)
    out = check_writable(args.out)
    if not p.configs:
        raise UsageError("nothing to run")
    say = print if w.rank == 0 else (lambda *a, **k: None)
    finished = records.read_records(out)  # every machine's: FLOPs for the estimates; this machine's: the rates
    estimates = [budget.estimate_seconds(c, finished) for c in p.configs]
    say(describe_plan(p, args, estimates), flush=True)
    outcomes = launcher.launch(Suite(p, out, args, started, w, estimates, finished))
    return finish(outcomes, started, out / p.machine, args.out, say)


NOT_FAILED = ("ok", "skipped", "not started", "submitted")


def finish(outcomes: list[tuple[str, str]], started: float, folder: Path, runs: str, say=print) -> int:
    """The suite's end, local or on SLURM: the summary line, the failures named, and the exit status."""
    say(summary_line(outcomes, time.monotonic() - started, folder, runs))
    failed = [f"{run}: {status}" for run, status in outcomes if status not in NOT_FAILED]
    if failed:
        say(f"{len(failed)} run(s) failed: " + "; ".join(failed))
        return 1
    return 0


def summary_line(outcomes: list[tuple[str, str]], seconds: float, folder: Path, runs: str = "results/runs") -> str:
    """The suite's last word: how many runs ended how, how long it took, where the records are, what comes next."""
    counts: dict[str, int] = {}
    for _, status in outcomes:
        counts[status] = counts.get(status, 0) + 1
    ended = ", ".join(f"{n} {status}" for status, n in sorted(counts.items(), key=lambda kv: (kv[0] != "ok", kv[0])))
    where = "" if runs == "results/runs" else f", in {Path(runs).resolve().parent / 'LEADERBOARD.md'}"
    return (f"suite done in {seconds / 60:,.1f} min: {ended or 'nothing run'}; records in {folder}; "
            f"`python -m benchmarks leaderboard{'' if runs == 'results/runs' else f' --runs {runs}'}` builds the "
            f"leaderboard from them{where}")  # fmt: skip
