"""``python -m benchmarks plots``: render the plots from the records (``benchmarks.report.plots``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.commands.leaderboard import COMMITTED_RUNS, read_groups
from benchmarks.report.plots import render_all


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", default=str(COMMITTED_RUNS), help="folder of run records (default: results/runs)")
    parser.add_argument("--out", help="the pictures go to OUT/plots (default: results for results/runs, else the "
                        "folder that holds --runs)")  # fmt: skip
    parser.add_argument("--allow-empty", action="store_true", help="accept a folder that holds no record")


def main(args) -> int:
    runs = Path(args.runs)
    out = Path(args.out) if args.out else (Path("results") if runs.resolve() == COMMITTED_RUNS.resolve() else
                                           runs.resolve().parent)  # fmt: skip
    written = render_all(read_groups(args.runs, args.allow_empty), out)
    for files in written.values():
        for path in files.values():
            print(f"wrote {path}")
    if not written:
        print(f"no plot: no group under {args.runs} has an accuracy that is a result", file=sys.stderr)
    return 0
