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
import threading
import time
from pathlib import Path

from benchmarks.run.options import RunOptions

TAIL_LINES = 20
GRACE_SECONDS = 10  # after SIGTERM, before SIGKILL


@dataclasses.dataclass(frozen=True)
class Outcome:
    status: str  # "written" (the child wrote its record), "timeout" or "crashed"
    seconds: float
    detail: str
    tail: list[str]


def child_command(config, path: Path, device: str, args: RunOptions, replace: bool) -> list[str]:
    command = [sys.executable, "-m", "benchmarks.run.isolation", "--config", json.dumps(dataclasses.asdict(config)),
               "--record", str(path), "--device", device]  # fmt: skip
    if replace:
        command.append("--replace")
    if args.synthetic:
        command.append("--synthetic")
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    if args.oom_retry:
        command.append("--oom-retry")
    for spec in args.imports:
        command += ["--import", spec]
    return command


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the child's process group, SIGKILL if it is still there after a grace period; then reap it."""
    for sig, wait in ((signal.SIGTERM, GRACE_SECONDS), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


def _relay(stream, tail: collections.deque) -> None:
    for line in stream:
        print(line, end="", flush=True)
        tail.append(line.rstrip("\n"))


def run_isolated(config, path: Path, device: str, args: RunOptions, replace: bool) -> Outcome:
    before = path.stat().st_mtime_ns if path.exists() else None
    tail: collections.deque = collections.deque(maxlen=TAIL_LINES)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    start = time.monotonic()
    process = subprocess.Popen(
        child_command(config, path, device, args, replace), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=env, start_new_session=True,  # its own process group: the parent decides when it stops
    )  # fmt: skip
    print(f"  (process {process.pid})", flush=True)
    reader = threading.Thread(target=_relay, args=(process.stdout, tail), daemon=True)
    reader.start()
    try:
        code = process.wait(timeout=args.run_timeout)
    except subprocess.TimeoutExpired:
        stop(process)
        reader.join(timeout=5)
        seconds = time.monotonic() - start
        return Outcome("timeout", seconds, f"stopped after {seconds:.1f} s (--run-timeout {args.run_timeout:g})",
                       list(tail))  # fmt: skip
    except BaseException:  # Ctrl-C, SIGTERM: the child goes first, then the suite
        stop(process)
        raise
    reader.join(timeout=5)
    seconds = time.monotonic() - start
    written = path.exists() and path.stat().st_mtime_ns != before
    if (code == 0 and written) or (code == 3 and path.exists()):  # 3: another suite wrote it first
        return Outcome("written", seconds, "", list(tail))
    if code < 0:
        detail = f"killed by {signal.Signals(-code).name} after {seconds:.1f} s"
    else:
        detail = f"exited with status {code} after {seconds:.1f} s without a record"
    return Outcome("crashed", seconds, detail, list(tail))


# --- the child ----------------------------------------------------------------------------------------------------


def child_main(argv=None) -> int:
    from benchmarks import cli, records
    from benchmarks.run.config import RunConfig
    from benchmarks.run.one import load_data, run_one
    from benchmarks.run.user_archs import import_user_modules

    parser = argparse.ArgumentParser(prog="python -m benchmarks.run.isolation", description="one isolated run")
    parser.add_argument("--config", required=True)
    parser.add_argument("--record", required=True)
    parser.add_argument("--device", required=True)
    parser.add_argument("--replace", action="store_true")
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--data-dir")
    parser.add_argument("--oom-retry", action="store_true")
    parser.add_argument("--import", dest="imports", action="append", default=[])
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, cli._on_sigterm)
    try:
        import_user_modules(args.imports)
        config = records.decode(RunConfig, json.loads(args.config), "config")
        print(f"  {config.arch} seed {config.seed}: loading the data on {args.device}, then training", flush=True)
        dataset = load_data(args.synthetic, args.data_dir, args.device)
        record = run_one(config, dataset, args.device, oom_retry=args.oom_retry)
        records.write_record(Path(args.record), record, replace=args.replace)
    except records.RecordExists:
        return 3  # another suite wrote it first
    except KeyboardInterrupt:
        return cli.EXIT_SIGINT
    except cli.Terminated:
        return cli.EXIT_SIGTERM
    return 0


if __name__ == "__main__":
    sys.exit(child_main())
