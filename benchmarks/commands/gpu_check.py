"""``python -m benchmarks gpu-check``: the bounded check a GPU lent for minutes runs first, one command.

It needs nothing the GPU machine lacks (it runs from the checkout with that machine's torch and packages and
installs nothing) and ends inside ``--minutes``. Three phases, each a subprocess of the suite's own commands with
a share of the minutes, stopped (SIGTERM to its process group, finished records kept) when its share is spent:

1. ``throughput``: the step-throughput benchmarks (``perf/bench_throughput.py``) of NiN at 224 px, AlexNet and
   VGG-11, and the measured matrix-product rate, saved as pytest-benchmark JSON: MFU against the vendor peak.
2. ``nin``: NiN with the fast recipe at 224 px, three seeds, ten epochs, with time to 0.85 and 0.90 on the step
   clock.
3. ``entries``: every entry once with the machine's default compute path (compiled on CUDA), ``smoke`` profile
   (one epoch), isolated, each run under a run timeout: what runs and what breaks. It gets what the first two
   left; on a GPU its compilations may outlast the minutes, and the same command again resumes it (records of
   finished runs are skipped).

Everything goes under ``--out``: ``runs/`` (records), ``benchmarks/`` (pytest-benchmark JSON), ``gpu-check.log``
(every line printed), ``gpu-check.json`` (the phases: status, seconds, command) and ``LEADERBOARD.md``, built from
that folder alone, as ``python -m benchmarks leaderboard --runs OUT/runs --benchmarks OUT/benchmarks`` builds it on
any other machine. ``--device cpu --minutes 3`` is the rehearsal: the same phases, scaled to what a CPU does in
three minutes (tested in CI).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

from benchmarks.errors import UsageError
from benchmarks.run import process_group

NEEDS = ("torch", "pandas", "tabulate", "matplotlib", "scipy", "pytest", "pytest_benchmark")
SHARES = {"throughput": 0.2, "nin": 0.45, "entries": 0.35}  # of the minutes left for the phases, in this order
RESERVE_S = 20  # for the leaderboard at the end
GRACE_S = 15  # after SIGTERM, before SIGKILL


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="folder holding Fashion-MNIST's four IDX files")
    parser.add_argument("--out", default="gpu-check", help="where everything it writes goes")
    parser.add_argument("--minutes", type=float, default=8.0, help="the whole check's budget (default 8)")
    parser.add_argument("--device", default=None, help="cuda (default where present) or cpu (the rehearsal)")


def missing_packages() -> list[str]:
    return [name for name in NEEDS if importlib.util.find_spec(name) is None]


def phases(device: str, out: Path, data: list[str]) -> list[tuple[str, list[str]]]:
    """(name, command) of each phase, for a GPU or for the CPU rehearsal."""
    run = [sys.executable, "-m", "benchmarks", "run", "--out", str(out / "runs"), "--device", device, "--isolate",
           *data]  # fmt: skip
    slug = _slug(device)
    bench = [sys.executable, "-m", "pytest", "perf/bench_throughput.py", "-q", "-k", "train_step or matmul_peak",
             "--bench-device", device, f"--benchmark-storage=file://{out / 'benchmarks' / slug}",
             "--benchmark-autosave"]  # fmt: skip
    if device.startswith("cuda"):
        return [
            ("throughput", [*bench, "--bench-arch", "nin,alexnet,vgg11"]),
            ("nin", [*run, "--arch", "nin", "--profile", "full", "--recipe", "fast", "--resolution", "224",
                     "--epochs", "10", "--seeds", "0", "1", "2", "--run-timeout", "240"]),
            ("entries", [*run, "--profile", "smoke", "--epochs", "1", "--seeds", "0", "--run-timeout", "120"]),
        ]  # fmt: skip
    tiny = ["--train-subset", "1000", "--test-subset", "500", "--epochs", "1", "--seeds", "0"]
    return [  # the rehearsal: the same commands, scaled to a 2-core CPU's three minutes
        ("throughput", [*bench, "--bench-arch", "lenet,nin", "--bench-resolution", "67", "--bench-batch", "32"]),
        ("nin", [*run, "--arch", "nin", "--profile", "full", "--recipe", "fast", "--resolution", "67",
                 "--train-subset", "2000", "--test-subset", "1000", "--epochs", "1", "--seeds", "0", "1", "2",
                 "--run-timeout", "60"]),
        ("entries", [*run, "--profile", "smoke", "--arch", "lenet", "nin", *tiny, "--run-timeout", "60"]),
    ]  # fmt: skip


def _slug(device: str) -> str:
    from benchmarks.measure.machine import machine_slug

    return machine_slug(device)


def run_phase(command: list[str], seconds: float, log) -> tuple[str, float, int | None]:
    """Run ``command`` for at most ``seconds``, every line to ``log``; (status, seconds, exit code)."""
    code, took = process_group.run(command, log, timeout=seconds, grace=GRACE_S)
    if code is None:
        log(f"gpu-check: the phase's {seconds:.0f} s were spent; stopped it (its finished records stay)")
        return "stopped", took, None
    return ("ok" if code == 0 else f"exit {code}"), took, code


def main(args) -> int:
    missing = missing_packages()
    if missing:
        raise UsageError(f"gpu-check needs {', '.join(missing)} (pip install them; it installs nothing itself)")
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: CUDA is not available here (--device cpu is the rehearsal)")
    if args.minutes <= 0:
        raise UsageError(f"--minutes must be positive, not {args.minutes:g}")
    from benchmarks.data.fashion_mnist import locate

    locate(args.data_dir, download=False)  # the data first: a DataError is one line, before any phase starts
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    budget = args.minutes * 60
    log_file = (out / "gpu-check.log").open("a")

    def log(line: str) -> None:
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    data = ["--data-dir", args.data_dir] if args.data_dir else []
    log(f"gpu-check on {device} ({torch.__version__}), {args.minutes:g} minutes, into {out}")
    results = []
    planned = phases(device, out, data)
    for i, (name, command) in enumerate(planned):
        left = budget - (time.monotonic() - start) - RESERVE_S
        share = SHARES[name] / sum(SHARES[n] for n, _ in planned[i:])  # what the phases before left over is shared
        seconds = max(0.0, left * share)
        log(f"phase {name}: {seconds:.0f} s: {' '.join(command[1:])}")
        if seconds < 5:
            results.append({"phase": name, "status": "skipped: no time left", "seconds": 0.0, "command": command})
            continue
        status, took, code = run_phase(command, seconds, log)
        log(f"phase {name}: {status} after {took:.0f} s")
        results.append({"phase": name, "status": status, "seconds": round(took, 1), "exit": code,
                        "command": command})  # fmt: skip
    board = [sys.executable, "-m", "benchmarks", "leaderboard", "--runs", str(out / "runs"), "--benchmarks",
             str(out / "benchmarks"), "--out", str(out / "LEADERBOARD.md"), "--readme", "", "--allow-empty"]  # fmt: skip
    status, _, _ = run_phase(board, max(RESERVE_S, 10), log)
    summary = {"device": device, "torch": torch.__version__, "minutes": args.minutes,
               "seconds": round(time.monotonic() - start, 1), "phases": results, "leaderboard": status}  # fmt: skip
    (out / "gpu-check.json").write_text(json.dumps(summary, indent=1) + "\n")
    log(f"gpu-check done in {summary['seconds']:.0f} s: " + ", ".join(f"{r['phase']} {r['status']}" for r in results)
        + f"; leaderboard {status}. Everything is under {out}")  # fmt: skip
    log_file.close()
    return 0 if all(r["status"] == "ok" for r in results) and status == "ok" else 1
