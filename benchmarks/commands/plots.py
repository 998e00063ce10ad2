"""``python -m benchmarks plots``: render the plots from the records (``benchmarks.report.plots``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import records as records_io
from benchmarks.report import summary as summary_io
from benchmarks.report.plots import render_all
from benchmarks.upgrade_records import with_facts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", default="results/runs", help="folder of run records")
    parser.add_argument("--out", default="results", help="the pictures go to OUT/plots")


def main(args) -> int:
    warn = lambda message: print(f"warning: {message}", file=sys.stderr)  # noqa: E731
    groups = summary_io.groups(with_facts(records_io.read_records(Path(args.runs), warn=warn)))
    for files in render_all(groups, Path(args.out)).values():
        for path in files.values():
            print(f"wrote {path}")
    return 0
