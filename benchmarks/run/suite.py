"""The suite: every planned run in turn (or this rank's share under torchrun), each resumed, isolated or run in
this process, its record written once; then the summary and the exit status.

A suite resumes: runs whose records exist and are complete are skipped (``--force`` reruns them). One run that
diverges, runs out of memory or raises is recorded as such and the suite goes on; the exit status is 1 if any run
failed.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from benchmarks.data.device_data import Dataset
from benchmarks.errors import UsageError
from benchmarks.run import budget, isolation
from benchmarks.run.one import failed_record, load_data, run_one
from benchmarks.run.options import RunOptions
from benchmarks.run.plan import Plan, check_writable, describe_plan, plan, resolve_device
from benchmarks.schema import records
from benchmarks.schema.config import RunConfig
from benchmarks.train import distributed
from benchmarks.train.harness import rate


def run_in_child(config: RunConfig, path: Path, dataset: Dataset, device: str, args: RunOptions, force: bool):
    """Run one configuration in its own process; its record, or the crashed/timeout record written for it here.
    None when a finished record is there (another suite's, or the child's own): it is never replaced."""
    outcome = isolation.run_isolated(config, path, device, args, replace=force)
    if outcome.status == "written":
        record, problem = records.read_record(path)
        if record is not None:
            return record
        outcome = dataclasses.replace(outcome, status="crashed", detail=f"its record is unreadable: {problem}")
    print(f"  {outcome.status}: {outcome.detail}")
    record = failed_record(config, dataset, device, outcome.status, outcome.detail,
                           run_seconds=outcome.seconds, output_tail=outcome.tail)  # fmt: skip
    if not records.write_first(path, record, force=force):
        return None  # a finished record is there (the child's own, or another suite's): it stays
    return record


def run_suite(args: RunOptions) -> int:
    started = time.monotonic()
    w = distributed.world()
    distributed.bind_device(w, args.device)  # first: before the plan's CUDA queries
    isolate = (
        args.isolate if args.isolate is not None else resolve_device(args.device).startswith("cuda") and not args.ddp
    )
    ranks = 1
    if args.executor == "slurm":
        from benchmarks.run import cluster

        cluster.check(args)  # before anything is planned, loaded or submitted
        isolate = True  # a job is a process of its own: the parent sizes no user entry itself
        if args.ddp:  # planned as the job's torchrun will plan it: one run over all its ranks
            device = resolve_device(args.device)
            ranks = cluster.ddp_ranks(args, device)
            w = distributed.World(size=ranks)
            if device == "cpu":
                torch.set_num_threads(1)  # torchrun gives each rank one thread: the machine its records will name
    elif args.run_timeout and not isolate:
        raise UsageError("--run-timeout needs --isolate: only a run in its own process can be stopped safely")
    elif isolate and args.ddp:
        raise UsageError("--ddp runs every rank in the one process torchrun started; it cannot be --isolate'd")
    p = plan(args, w, isolate=isolate)
    out = check_writable(args.out)
    if not p.configs:
        raise UsageError("nothing to run")
    say = print if w.rank == 0 else (lambda *a, **k: None)
    finished = records.read_records(out)  # every machine's: FLOPs for the estimates; this machine's: the rates
    estimates = [budget.estimate_seconds(c, finished) for c in p.configs]
    say(describe_plan(p, args, estimates), flush=True)
    if args.executor == "slurm":
        return submit_to_slurm(p, args, out, started, estimates, ranks)
    distributed.init(w, p.device)  # before the data: the process group, bound to this rank's device
    dataset = load_data(
        args.synthetic, args.data_dir, "cpu" if isolate else p.device
    )  # isolated: each child moves its own copy
    if isolate:
        say("each run in a process of its own" + (f", stopped after {args.run_timeout:g} s" if args.run_timeout
                                                  else ", no time limit"), flush=True)  # fmt: skip
    if w.active:
        say(f"{w.size} ranks: " + ("each run data-parallel over all of them (--ddp)" if args.ddp else
                                   "the runs dealt out, run i to rank i % world size"), flush=True)  # fmt: skip
    numbered = list(enumerate(p.configs, 1))
    mine = numbered if args.ddp else distributed.shard(numbered, w)
    outcomes = []  # (run, status): "ok", a failure's status, "skipped" (done already) or "not started"
    try:
        for i, config in mine:
            status = run_planned(i, config, p, out, dataset, args, isolate, w, started, finished)
            outcomes.append((f"{config.arch} seed {config.seed}", status or "skipped"))
        everyone = distributed.gather(outcomes, w)  # every rank done: then the summary, once
    finally:
        distributed.finish()
    outcomes = [o for rank_outcomes in everyone for o in rank_outcomes]
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


def submit_to_slurm(p: Plan, args: RunOptions, out: Path, started: float, estimates: list[float | None],
                    ranks: int = 1) -> int:  # fmt: skip
    """The runs not done as one SLURM job array, or (``--ddp``) one job of ``ranks`` ranks that runs them all
    (``benchmarks.run.cluster``); the same summary and exit status as a local suite. ``estimates``: each planned
    run's seconds by this machine's records (or None)."""
    from benchmarks.run import cluster

    outcomes, pending, pending_estimates = [], [], []
    for config, estimate in zip(p.configs, estimates):
        path = out / config.file_name()
        if not args.force and path.exists() and records.is_done(path, config):
            print(f"{config.arch} seed {config.seed}: done already on {p.machine} ({path.name}), not submitted")
            outcomes.append((f"{config.arch} seed {config.seed}", "skipped"))
        else:
            pending.append((config, path))
            pending_estimates.append(estimate)
    warning = cluster.over_time_limit(pending, pending_estimates, args)
    if warning:
        print(warning, flush=True)
    data = {}

    def failed(config, status, detail, tail):
        if "set" not in data:  # the data only where a record must be written here: its sizes go in it
            data["set"] = load_data(args.synthetic, args.data_dir, "cpu")
        return failed_record(config, data["set"], p.device, status, detail, output_tail=tail)

    if pending:
        outcomes += cluster.submit(pending, p.device, args, out, failed, ranks=ranks)
    else:
        print("nothing to submit: every planned run is done")
    return finish(outcomes, started, out / p.machine, args.out)


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


def run_planned(i: int, config: RunConfig, p: Plan, out: Path, dataset: Dataset, args: RunOptions, isolate: bool,
                w: distributed.World, started: float, finished: list):  # fmt: skip
    """The i-th planned run, start to record: its status, None when skipped, or "stop" when the time budget is
    spent."""
    total = len(p.configs)
    tag = f"[{i}/{total}]" + (f" rank {w.rank}" if w.active and not args.ddp else "")
    say = print if (w.rank == 0 or not args.ddp) else (lambda *a, **k: None)
    path = out / config.file_name()
    existed = path.exists()
    done = existed and not args.force and records.is_done(path, config)
    if args.ddp:  # every rank must take the same decision: rank 0's
        done, existed = distributed.gather((done, existed), w)[0]
    if done:
        say(f"{tag} {config.arch} seed {config.seed}: done already on {p.machine} ({path.name}), skipped")
        return None
    if args.max_minutes:
        left = args.max_minutes * 60 - (time.monotonic() - started)
        needed = budget.estimate_seconds(config, finished)
        if needed is not None and needed > left:  # skipped, not the end: a shorter run after it may still fit
            say(
                f"{tag} {config.arch} seed {config.seed}: needs about {needed:,.0f} s by this machine's records, "
                f"{max(left, 0):,.0f} s of --max-minutes left; not started. Run the same command to resume."
            )
            return "not started"
    say(f"{tag} {config.arch} seed {config.seed}", flush=True)
    if config.arch in p.unsized:  # its code crashed the process that sized it: recorded, never run here
        why, tail = p.unsized[config.arch]
        say(f"  crashed: {why}")
        record = failed_record(config, dataset, p.device, "crashed", why, output_tail=tail)
        if not records.write_first(path, record, force=args.force):
            say(f"  a finished record is there; kept {path.name}")
            return None
        finished.append(record)
        return record.status
    if isolate:
        record = run_in_child(config, path, dataset, p.device, args, force=args.force)
    else:
        record = run_one(config, dataset, p.device, log=say, oom_retry=args.oom_retry, world=w if args.ddp else None)
        if (w.rank == 0 or not args.ddp) and not records.write_first(path, record, force=args.force):
            record = None
    if record is None:
        say(f"  another suite finished this run first; kept its record {path.name}")
        return None
    finished.append(record)
    if record.status == "ok":
        final = record.final
        # the record's own word (decided once, when the run was made) on whether its accuracy means anything
        check = "" if record.report is None or record.report.accuracy_is_result else " (a check: no result)"
        say(f"  test acc {final.test_acc:.3f}{check}, {rate(final.train_examples_per_sec)}, {final.train_seconds:.1f} "
            f"s -> {path}")  # fmt: skip
    return record.status
