"""``python -m benchmarks gpu-check``: a short GPU slot turned into the chapter's converged answer, one command.

It plans the slot (``benchmarks.run.slot``: the chapter at d2l's budget first, then NiN's fast recipe, the
compiled throughput benchmarks, full VGG-11's extra seeds), prints each step's predicted seconds, and runs the
steps in that order, each a subprocess of the suite's own commands given only the runs that fit in the minutes
left. Everything accumulates under ``--work`` (records, pytest-benchmark JSON, the log, the plan); after every
finished run one bundle of it, ``slot-bundle.tar.gz``, and a text summary beside it are replaced atomically in
``--out``, so that a command killed at any point returns every run that finished. ``python -m benchmarks
import-bundle FILE`` puts the bundle's records into ``results/``. The same command again (the slot's second,
shorter command, on the still-warm machine) skips what is done.

It needs nothing the GPU machine lacks: it runs from the checkout with that machine's Python and packages, and
installs nothing. ``--device cpu --minutes 3`` is the rehearsal (the same steps and code, scaled down, tested in
CI); ``--device cuda --dry-run`` prints the plan for the lent GPU on any machine; ``--prepare`` fills ``.data/``
with Fashion-MNIST and prints the device call.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

from benchmarks.errors import UsageError
from benchmarks.run import bundle, process_group, slot

NEEDS = ("torch", "pandas", "tabulate", "matplotlib", "scipy", "pytest", "pytest_benchmark")
RESERVE_S = 10  # for the last bundle and summary
GRACE_S = 15  # after SIGTERM, before SIGKILL: the run in flight ends, pytest-benchmark saves what finished
FIRST_MINUTES, SECOND_MINUTES = 8.0, 4.0  # the slot's two commands (15 minutes of device time, 1.5-2 to start)
DATA_FOLDER = ".data"  # ignored by git; carried to the GPU machine


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="folder holding Fashion-MNIST's four IDX files (default: where the "
                        "suite finds them)")  # fmt: skip
    parser.add_argument("--out", default="slot-out", help="where the bundle, its summary and the log go ($OUT on "
                        "the GPU machine; default: slot-out)")  # fmt: skip
    parser.add_argument("--work", default=".slot", help="where the records accumulate across the slot's commands "
                        "(default: .slot, ignored by git)")  # fmt: skip
    parser.add_argument("--minutes", type=float, default=FIRST_MINUTES,
                        help=f"this command's budget (default {FIRST_MINUTES:g})")  # fmt: skip
    parser.add_argument("--device", default=None, help="cuda (default where present) or cpu (the rehearsal)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and what it rests on; run nothing "
                        "(--device cuda plans for an H200 on a machine without a GPU)")  # fmt: skip
    parser.add_argument(
        "--prepare",
        action="store_true",
        help=f"copy Fashion-MNIST into {DATA_FOLDER}/ and print the device call; run nothing",
    )
    parser.add_argument("--from-bundle", metavar="FILE", help="with --prepare: unpack a bundle the slot returned "
                        "into --work, so that a fresh GPU machine resumes from it (carry the work folder too)")  # fmt: skip


def missing_packages() -> list[str]:
    return [name for name in NEEDS if importlib.util.find_spec(name) is None]


def main(args) -> int:
    if args.prepare:
        return prepare(args)
    if args.from_bundle:
        raise UsageError("--from-bundle goes with --prepare")
    missing = missing_packages()
    if missing:
        raise UsageError(f"gpu-check needs {', '.join(missing)} (pip install them; it installs nothing itself)")
    if not args.minutes > 0:
        raise UsageError(f"--minutes must be positive, not {args.minutes:g}")
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cuda", "cpu"):
        raise UsageError(f"--device {device}: cuda or cpu (a slot plans for one device)")
    if device == "cuda" and not torch.cuda.is_available() and not args.dry_run:
        raise UsageError("--device cuda: CUDA is not available here (--device cpu is the rehearsal; --dry-run "
                         "prints the GPU's plan)")  # fmt: skip
    if not args.dry_run:
        from benchmarks.data.fashion_mnist import locate

        locate(args.data_dir, download=False)  # the data first: a DataError is one line, before any step starts
    t = slot.target(device, dry_run=args.dry_run)
    scale = slot.GPU if t.kind == "cuda" else slot.REHEARSAL
    return Slot(t, scale, args).run()


class Slot:
    """One command of a slot: its steps, its log, its bundle."""

    def __init__(self, t: slot.Target, scale: slot.Scale, args):
        self.t, self.scale, self.args = t, scale, args
        self.work = Path(args.work)
        self.out = Path(args.out)
        self.data = ["--data-dir", str(Path(args.data_dir).resolve())] if args.data_dir else []
        self.start = time.monotonic()
        self.budget = args.minutes * 60
        self.results: list[dict] = []
        self.log_file = None
        self.packed = None  # the inputs of the last bundle
        self.lock = threading.Lock()  # the output reader's thread and the main one both refresh the bundle
        self.committed = None  # results/runs' records, read at the first plan
        self.env = None  # the steps' environment: this machine's facts, taken once (collect_env takes seconds)

    def left(self) -> float:
        return self.budget - (time.monotonic() - self.start) - RESERVE_S

    def log(self, line: str) -> None:
        print(line, flush=True)
        if self.log_file:
            self.log_file.write(line + "\n")
            self.log_file.flush()

    def finished(self) -> list:
        from benchmarks.schema import records

        if self.committed is None:  # the committed records do not change during a slot: read once
            self.committed = records.read_records(Path("results/runs"))
        return records.read_records(self.work / "runs") + self.committed

    def record(self, config) -> Path:
        return self.work / "runs" / config.file_name()

    def done(self, config) -> bool:
        from benchmarks.schema import records

        return records.is_done(self.record(config), config)

    def plan_lines(self) -> list[str]:
        """Every step with its runs' predictions as things stand now."""
        finished = self.finished()
        lines = [f"slot on {self.t.name} ({self.t.slug}), {self.args.minutes:g} minutes; where this machine kind has "
                 f"no record, a run's seconds rest on an assumption: {self.t.assumed.basis}, plus "
                 f"{self.t.assumed.warmup_seconds:g} s of warm-up and {slot.START_SECONDS[self.t.kind]:g} s to "
                 f"start each step's process"]  # fmt: skip
        total, costs, start = 0.0, [], slot.START_SECONDS[self.t.kind]
        for i, step in enumerate(slot.steps(self.scale), 1):
            if step.benchmarks:
                each = slot.bench_costs(step, self.t.kind)
                seconds = start + sum(c for _, _, c in each)
                what = ", ".join(step.archs) + (f"; stacked: {', '.join(step.stack)}" if step.stack else "")
                lines.append(f"  step {i} [{step.phase}] {step.label} ({what}): about {seconds:,.0f} s")
                total += seconds
                costs.append((i, start, [c for _, _, c in each]))
                continue
            planned = slot.predict(slot.configs(self.run_argv(step, step.archs), self.t), finished, self.t, self.done,
                                   self.record)  # fmt: skip
            todo = [p for p in planned if not p.done]
            seconds = sum(p.seconds or 0.0 for p in todo) + (start if todo else 0.0)
            total += seconds
            costs.append((i, start, [p.seconds or 0.0 for p in todo]))
            runs = ", ".join(f"{p.config.arch} s{p.config.seed} " + ("done" if p.done else f"{p.seconds:,.0f} s")
                             for p in planned)  # fmt: skip
            lines.append(f"  step {i} [{step.phase}] {step.label}: about {seconds:,.0f} s ({runs})")
        lines.append(f"all steps: about {total / 60:,.1f} min against this command's {self.args.minutes:g}; what "
                     "does not fit is left for the same command again")  # fmt: skip
        minutes = [self.args.minutes, SECOND_MINUTES]
        plan = slot.forecast(costs, [m * 60 - RESERVE_S for m in minutes])
        runs = sum(len(r) for _, _, r in costs)
        words = [f"{label} ({m:g} min) {n} run(s) in about {used:,.0f} s (steps {', '.join(map(str, steps)) or '-'})"
                 for label, m, (n, used, steps) in zip(("this command", "the next"), minutes, plan)]  # fmt: skip
        rest = runs - sum(n for n, _, _ in plan)
        lines.append(f"predicted, of {runs} runs and benchmarks: {'; '.join(words)}; "
                     + (f"{rest} left for a third command" if rest else "nothing left over"))  # fmt: skip
        return lines

    def run_argv(self, step: slot.Step, archs: tuple[str, ...], seeds: tuple[int, ...] | None = None) -> list[str]:
        return slot.run_argv(step, archs, str(self.work), self.t.device, self.data, seeds)

    def run(self) -> int:
        if self.args.dry_run:
            print("\n".join(self.plan_lines()))
            return 0
        self.work.mkdir(parents=True, exist_ok=True)
        self.out.mkdir(parents=True, exist_ok=True)
        self.log_file = (self.work / "slot.log").open("a")
        import torch

        from benchmarks.measure import machine

        self.env = {**os.environ, machine.ENV_FACTS: json.dumps(machine.machine_facts(self.t.device))}
        self.log(f"gpu-check on {self.t.device} (torch {torch.__version__}), into {self.work}, bundle in {self.out}")
        for line in self.plan_lines():
            self.log(line)
        try:
            for i, step in enumerate(slot.steps(self.scale), 1):
                self.results.append(self.run_step(i, step))
                self.refresh()
        finally:
            self.refresh(final=True)
            self.log_file.close()
        failed = [r for r in self.results if r["status"] not in ("ok", "done", "skipped: does not fit")]
        return 1 if failed else 0

    def run_step(self, i: int, step: slot.Step) -> dict:
        name = f"step {i} [{step.phase}] {step.label}"
        left = self.left() - slot.START_SECONDS[self.t.kind]
        if step.benchmarks:
            chosen, left_out = slot.bench_fit(slot.bench_costs(step, self.t.kind), self.t.kind, self.left())
            if left_out:
                self.log(f"{name}: left out: {', '.join(f'{a} {what} ({s:g} s)' for what, a, s in left_out)}; "
                         f"{max(self.left(), 0):,.0f} s left")  # fmt: skip
            if not chosen:
                return {"step": name, "status": "skipped: does not fit", "seconds": 0.0}
            archs = tuple(a for what, a, _ in chosen if what == "compiled")
            stack = tuple(a for what, a, _ in chosen if what == "stacked")
            storage = (self.work / "benchmarks" / self.t.slug).resolve()
            command = [sys.executable, "-m", "pytest",
                       *slot.bench_argv(archs, str(storage), self.t.device, step.flags, stack)]  # fmt: skip
        else:
            planned = slot.predict(slot.configs(self.run_argv(step, step.archs), self.t), self.finished(), self.t,
                                   self.done, self.record)  # fmt: skip
            chosen, left_out = slot.fit(planned, left)
            for p in left_out:
                self.log(f"{name}: {p.config.arch} seed {p.config.seed} not started: needs about "
                         f"{p.seconds:,.0f} s, {max(left, 0):,.0f} s left; the same command again runs it")  # fmt: skip
            if not chosen:
                return {"step": name, "status": "done" if not left_out else "skipped: does not fit", "seconds": 0.0}
            archs = tuple(dict.fromkeys(p.config.arch for p in chosen))  # a step has one seed, or one entry
            seeds = tuple(dict.fromkeys(p.config.seed for p in chosen))
            command = [sys.executable, "-m", "benchmarks", *self.run_argv(step, archs, seeds),
                       "--max-minutes", f"{max(left, 1) / 60:.2f}"]  # fmt: skip
        self.log(f"{name}: {' '.join(command[1:])}")
        code, took = process_group.run(command, self.relay, timeout=max(self.left(), 1), env=self.env, grace=GRACE_S)
        status = "stopped at the command's minutes" if code is None else ("ok" if code == 0 else f"exit {code}")
        self.log(f"{name}: {status} after {took:,.0f} s")
        return {"step": name, "status": status, "seconds": round(took, 1), "command": command[1:]}

    def relay(self, line: str) -> None:
        self.log(line)
        self.refresh()

    def refresh(self, final: bool = False) -> None:
        """The bundle and the summary anew, when a record or a benchmark file changed (or at the end)."""
        with self.lock:
            self._refresh(final)

    def _refresh(self, final: bool) -> None:
        inputs = bundle.inputs(self.work)
        if inputs == self.packed and not final:
            return
        self.packed = inputs
        plan = {"device": self.t.device, "name": self.t.name, "machine": self.t.slug, "minutes": self.args.minutes,
                "assumed": self.t.assumed.basis, "seconds": round(time.monotonic() - self.start, 1),
                "steps": self.results, "finished": final}  # fmt: skip
        (self.work / "slot.json").write_text(json.dumps(plan, indent=1) + "\n")
        bundle.write(self.work, self.out, summary=bundle.summary(self.work, plan))


def prepare(args) -> int:
    """Fill ``.data/`` with the four files, optionally unpack a returned bundle into ``--work``, print the call."""
    from benchmarks.data.fashion_mnist import locate

    target = Path(DATA_FOLDER)
    target.mkdir(exist_ok=True)
    for source in locate(args.data_dir, download=False).values():
        copy = target / source.name
        if not copy.exists() or copy.stat().st_size != source.stat().st_size:
            shutil.copyfile(source, copy)
    carry = [DATA_FOLDER]
    if args.from_bundle:
        count = bundle.unpack(Path(args.from_bundle), Path(args.work))
        print(f"{args.from_bundle}: {count} files unpacked into {args.work}/; carried, the slot resumes from them")
        carry.append(args.work)
    size = sum(f.stat().st_size for f in target.iterdir()) / 2**20
    command = (f"PYTHONUNBUFFERED=1 python3 -m benchmarks gpu-check --data-dir {DATA_FOLDER} --work {args.work} "
               "--out $OUT --minutes {minutes}")  # fmt: skip
    print(f"{DATA_FOLDER}/ holds Fashion-MNIST's four files ({size:.0f} MiB), ignored by git. The device calls:")
    for label, minutes in (("first", FIRST_MINUTES), ("second, while the machine is warm", SECOND_MINUTES)):
        print(
            f"  {label}: run(carry={json.dumps(carry)}, timeout_s={int(minutes * 60 + 60)}, "
            f"command={json.dumps(command.format(minutes=f'{minutes:g}'))})"
        )
    print(
        "Send the second as soon as the first returns: a machine stays warm 30 s after a call. Where `status` "
        "leaves under 300 s, give the second --minutes (budget_left_s - 60) / 60 and timeout_s budget_left_s: the "
        "tool ends a command where the session's device time ends, and only the finished runs are in the bundle."
    )
    print(
        "Each returns $OUT/slot-bundle.tar.gz and slot-summary.txt; here, `python -m benchmarks import-bundle "
        "FILE` puts the records into results/ and regenerates the leaderboard. If the machine went back between "
        f"the two, `gpu-check --prepare --from-bundle FILE` unpacks the first bundle into {args.work}/ to carry."
    )
    return 0
