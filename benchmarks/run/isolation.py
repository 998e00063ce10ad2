"""``--isolate``: each run in a process of its own, so that a run that dies in native code (a segmentation fault,
an illegal memory access that poisons the CUDA context, the out-of-memory killer) or hangs ends alone, and no
memory or compilation state of one run leaks into the next (as TorchBench and timm's bulk runner do it).

The parent (``benchmarks.run.suite``) keeps the plan, the resume rule, the signals and the summary; it starts
``python -m benchmarks.run.isolation`` for one configuration, relays its output, and waits, at most ``--run-timeout``
seconds. The child trains and writes its record exactly as an in-process run does. A child that is stopped, dies
by a signal or exits without a record leaves that to the parent, which records ``timeout`` or ``crashed`` with the
seconds it ran and the last lines it printed. Ctrl-C or SIGTERM to the parent stops the child's whole process
group first, then the suite (exit 130 or 143, no partial record).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.run import options, process_group
from benchmarks.run.options import RunOptions

TAIL_LINES = 20


@dataclasses.dataclass(frozen=True)
class Outcome:
    status: str  # "written" (the child wrote its record), "timeout" or "crashed"
    seconds: float
    detail: str
    tail: list[str]


def child_flags(args: RunOptions, replace: bool) -> list[str]:
    """What a child needs of the suite's options besides its configuration (``options.CHILD``: the data, the retry
    rule, the user's modules), and whether it may replace a finished record; paths absolute."""
    return (["--replace"] if replace else []) + options.to_argv(args, options.CHILD)


def child_command(config, path: Path, device: str, args: RunOptions, replace: bool) -> list[str]:
    return [sys.executable, "-m", "benchmarks.run.isolation", "--config", json.dumps(dataclasses.asdict(config)),
            "--record", str(path), "--device", device, *child_flags(args, replace)]  # fmt: skip


def finished(path: Path) -> bool:
    from benchmarks.schema import records

    record, _ = records.read_record(path)
    return record is not None and record.status in records.DONE


def run_isolated(config, path: Path, device: str, args: RunOptions, replace: bool) -> Outcome:
    before = path.stat().st_mtime_ns if path.exists() else None
    tail: collections.deque = collections.deque(maxlen=TAIL_LINES)
    from benchmarks.measure import machine

    def relay(line: str) -> None:
        print(line, flush=True)
        tail.append(line)

    # the machine facts taken once, here: the child reuses them rather than running collect_env again
    env = {**os.environ, machine.ENV_FACTS: json.dumps(machine.machine_facts(device))}
    code, seconds = process_group.run(child_command(config, path, device, args, replace), relay,
                                      timeout=args.run_timeout, env=env,
                                      on_start=lambda pid: print(f"  (process {pid})", flush=True))  # fmt: skip
    if code is None:
        return Outcome("timeout", seconds, f"stopped after {seconds:.1f} s (--run-timeout {args.run_timeout:g})",
                       list(tail))  # fmt: skip
    written = path.exists() and path.stat().st_mtime_ns != before
    if (code == 0 and written) or (code == 3 and path.exists()):  # 3: another suite wrote it first
        return Outcome("written", seconds, "", list(tail))
    if written and finished(path):  # killed after writing its record: the run finished, the record stands
        return Outcome("written", seconds, "", list(tail))
    if code < 0:
        detail = f"killed by {signal.Signals(-code).name} after {seconds:.1f} s"
    else:
        detail = f"exited with status {code} after {seconds:.1f} s without a record"
    return Outcome("crashed", seconds, detail, list(tail))


SIZES_PREFIX = "input sizes: "
SIZES_TIMEOUT = 300  # seconds: a forward pass on the meta device takes well under one


def sizes_in_child(name: str, imports: list[str]) -> tuple[tuple[int, int, int | None] | None, str, list[str]]:
    """Discover a user entry's input sizes in a process of its own (the parent runs none of the model's code):
    (sizes, "", []) or (None, what happened, the last lines it printed) when the process crashed or failed."""
    command = [sys.executable, "-m", "benchmarks.run.isolation", "--sizes", name]
    for spec in imports:
        command += ["--import", spec]
    start = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=SIZES_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, f"sizing its input took over {SIZES_TIMEOUT} s; stopped", []
    seconds = time.monotonic() - start
    lines = (done.stdout + done.stderr).splitlines()
    found = [line[len(SIZES_PREFIX) :] for line in lines if line.startswith(SIZES_PREFIX)]
    if done.returncode == 0 and found:
        size, low, high = json.loads(found[-1])
        return (size, low, high), "", []
    how = (f"killed by {signal.Signals(-done.returncode).name}" if done.returncode < 0
           else f"exited with status {done.returncode}")  # fmt: skip
    return None, f"{how} after {seconds:.1f} s while its input sizes were discovered", lines[-TAIL_LINES:]


def sizes_main(name: str, imports: list[str]) -> int:
    import archs
    from benchmarks.run.user_archs import import_user_modules

    import_user_modules(imports)
    entry = archs.get_entry(name)
    print(SIZES_PREFIX + json.dumps([entry.input_size, entry.min_input_size, entry.max_input_size]), flush=True)
    return 0


# --- the child ----------------------------------------------------------------------------------------------------


def child_main(argv=None) -> int:
    from benchmarks.errors import EXIT_SIGINT, EXIT_SIGTERM, Terminated, on_sigterm
    from benchmarks.run.one import load_data, run_one
    from benchmarks.run.user_archs import import_user_modules
    from benchmarks.schema import records
    from benchmarks.schema.config import RunConfig

    parser = argparse.ArgumentParser(prog="python -m benchmarks.run.isolation", description="one isolated run")
    parser.add_argument("--sizes", metavar="NAME", help="only discover NAME's input sizes and print them")
    parser.add_argument("--config")
    parser.add_argument("--record")
    parser.add_argument("--device")
    parser.add_argument("--replace", action="store_true", help="--force: replace a finished record")
    options.add_arguments(parser, options.CHILD)
    args = parser.parse_args(argv)
    if args.sizes:
        return sizes_main(args.sizes, args.imports)
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        import_user_modules(args.imports)
        config = records.decode(RunConfig, json.loads(args.config), "config")
        print(f"  {config.arch} seed {config.seed}: loading the data on {args.device}, then training", flush=True)
        dataset = load_data(args.synthetic, args.data_dir, args.device)
        record = run_one(config, dataset, args.device, oom_retry=args.oom_retry, record=Path(args.record),
                         fresh=args.replace)  # fmt: skip
        if not records.write_first(Path(args.record), record, force=args.replace):
            return 3  # a finished record is there, another suite's: it stays
    except KeyboardInterrupt:
        return EXIT_SIGINT
    except Terminated:
        return EXIT_SIGTERM
    return 0


if __name__ == "__main__":
    sys.exit(child_main())
