"""``--executor local``: the suite's runs one at a time, in this process (``InProcess``; under torchrun each rank
its share, or every run data-parallel with ``--ddp``) or each in a child process of its own (``Isolated``,
``--isolate``: ``benchmarks.run.isolation``)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from benchmarks.data.device_data import Dataset
from benchmarks.errors import UsageError
from benchmarks.run import budget, isolation
from benchmarks.run.launcher import Launcher, Suite
from benchmarks.run.one import failed_record, load_data, run_one
from benchmarks.run.options import RunOptions
from benchmarks.run.plan import describe_seconds
from benchmarks.schema import records
from benchmarks.schema.config import RunConfig
from benchmarks.train import distributed
from benchmarks.train.harness import rate


class OneAtATime(Launcher):
    """The planned runs in turn (this rank's share under torchrun), each resumed, held to ``--max-minutes`` and
    recorded once (``run_planned``); ``start`` is how one run is started."""

    def start(self, config: RunConfig, path: Path, dataset: Dataset, suite: Suite):
        """Run ``config`` to its record, written at ``path``; None when a finished record is kept there."""
        raise NotImplementedError

    def launch(self, suite: Suite) -> list[tuple[str, str]]:
        p, args, w = suite.plan, suite.args, suite.world
        say = print if w.rank == 0 else (lambda *a, **k: None)
        distributed.init(w, p.device)  # before the data: the process group, bound to this rank's device
        dataset = load_data(args.synthetic, args.data_dir, "cpu" if self.isolated else p.device)  # a child: its own
        if self.isolated:
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
                status = run_planned(i, config, suite, dataset, self)
                outcomes.append((f"{config.arch} seed {config.seed}", status or "skipped"))
            everyone = distributed.gather(outcomes, w)  # every rank done: then the summary, once
        finally:
            distributed.finish()
        return [o for rank_outcomes in everyone for o in rank_outcomes]


class InProcess(OneAtATime):
    def check(self, args: RunOptions) -> None:
        if args.run_timeout:
            raise UsageError("--run-timeout needs --isolate: only a run in its own process can be stopped safely")

    def start(self, config, path, dataset, suite):
        args, w = suite.args, suite.world
        say = print if (w.rank == 0 or not args.ddp) else (lambda *a, **k: None)
        record = run_one(config, dataset, suite.plan.device, log=say, oom_retry=args.oom_retry,
                         world=w if args.ddp else None, record=path, fresh=args.force)  # fmt: skip
        if (w.rank == 0 or not args.ddp) and not records.write_first(path, record, force=args.force):
            return None
        return record


class Isolated(OneAtATime):
    isolated = True

    def check(self, args: RunOptions) -> None:
        if args.ddp:
            raise UsageError("--ddp runs every rank in the one process torchrun started; it cannot be --isolate'd")

    def start(self, config, path, dataset, suite):
        return run_in_child(config, path, dataset, suite.plan.device, suite.args, force=suite.args.force)


def launcher(args: RunOptions, device: str) -> OneAtATime:
    """Isolated where ``--isolate`` says so, else on CUDA (a run that poisons the CUDA context ends alone), never
    under ``--ddp`` unless asked (and then refused)."""
    isolate = args.isolate if args.isolate is not None else device.startswith("cuda") and not args.ddp
    return Isolated() if isolate else InProcess()


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


def run_planned(i: int, config: RunConfig, suite: Suite, dataset: Dataset, launcher: OneAtATime):
    """The i-th planned run, start to record (``launcher.start``): its status, None when skipped, or "not
    started" when the time budget cannot hold it."""
    p, out, args, w, started, finished = suite.plan, suite.out, suite.args, suite.world, suite.started, suite.finished
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
        needed = seconds_left(config, suite)
        if needed is not None and needed > left:  # skipped, not the end: a shorter run after it may still fit
            say(
                f"{tag} {config.arch} seed {config.seed}: needs about {needed:,.0f} s by this machine's records, "
                f"{max(left, 0):,.0f} s of --max-minutes left; not started. Run the same command to resume."
            )
            return "not started"
    say(f"{tag} {config.arch} seed {config.seed}{progress(i, config, suite)}", flush=True)
    if config.arch in p.unsized:  # its code crashed the process that sized it: recorded, never run here
        why, tail = p.unsized[config.arch]
        say(f"  crashed: {why}")
        record = failed_record(config, dataset, p.device, "crashed", why, output_tail=tail)
        if not records.write_first(path, record, force=args.force):
            say(f"  a finished record is there; kept {path.name}")
            return None
        finished.append(record)
        return record.status
    record = launcher.start(config, path, dataset, suite)
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


def seconds_left(config: RunConfig, suite: Suite) -> float | None:
    """A run's seconds still to go by this machine's records (``budget.estimate_seconds``), less the epochs a
    stopped run's checkpoint beside its record holds (none with ``--force``, which starts afresh, or ``--ddp``,
    whose runs save none)."""
    whole = budget.estimate_seconds(config, suite.finished)
    if suite.args.force or suite.args.ddp:
        return whole
    return budget.still_to_run(config, whole, suite.out / config.file_name())


def progress(i: int, config: RunConfig, suite: Suite) -> str:
    """What the i-th run's line says after its name: its estimate and the suite's time left with it (this run and
    the planned runs after it that have no finished record), by this machine's records as they stand when it starts,
    each finished run adding its rate, a stopped run only its epochs left (``seconds_left``, as ``--max-minutes``
    and the plan); nothing where none gives one. torchrun without ``--ddp`` deals the runs out: each rank says its
    run's estimate only."""
    here = seconds_left(config, suite)
    if suite.world.active and not suite.args.ddp:
        return f" ({describe_seconds(here)} by this machine's records)" if here is not None else ""
    done = set() if suite.args.force else {r.config for r in suite.finished if r.status in records.DONE}
    left = [c for c in suite.plan.configs[i:] if c not in done]  # the suite's records, not its files read again
    known = [e for e in [here, *(seconds_left(c, suite) for c in left)] if e is not None]
    if not known:
        return ""
    unknown = len(left) + 1 - len(known)
    return (f" ({describe_seconds(here)}; {len(left) + 1} run(s) left, {describe_seconds(sum(known))} by this "
            f"machine's records" + (f", {unknown} with no estimate" if unknown else "") + ")")  # fmt: skip
