"""``python -m benchmarks leaderboard``: results/LEADERBOARD.md (and a block of README.md) from the run records
(``benchmarks.report.leaderboard`` renders them)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import records as records_io
from benchmarks.atomic import write_atomically
from benchmarks.report import plots, step_throughput
from benchmarks.report import summary as summary_io
from benchmarks.report.leaderboard import leaderboard_markdown, refresh_readme, relative_prefix, render
from benchmarks.upgrade_records import with_facts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", default="results/runs", help="folder of run records")
    parser.add_argument("--out", default="results/LEADERBOARD.md")
    parser.add_argument("--readme", default="README.md", help="README whose marked block is refreshed ('' for none)")
    parser.add_argument("--no-plots", action="store_true", help="do not render the plots (nor link them)")
    parser.add_argument("--benchmarks", default="results/benchmarks", help="pytest-benchmark storage folder")


def main(args) -> int:
    warn = lambda message: print(f"warning: {message}", file=sys.stderr)  # noqa: E731
    groups = summary_io.groups(with_facts(records_io.read_records(Path(args.runs), warn=warn)))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results = out.parent  # the plots live in results/plots, beside the leaderboard
    pictures = {} if args.no_plots else plots.render_all(groups, results)
    if not args.no_plots:
        print(f"rendered {sum(map(len, pictures.values()))} plots under {results / 'plots'}")
    saved_runs = step_throughput.latest_per_device(Path(args.benchmarks), warn=warn)

    def prefix(markdown: Path) -> str | None:
        return None if args.no_plots else relative_prefix(results, markdown)

    write_atomically(out, leaderboard_markdown(groups, args.runs, pictures, prefix(out), saved_runs))
    print(f"wrote {out} from {sum(len(g.runs) for g in groups)} records and {len(saved_runs)} pytest-benchmark runs")
    readme = Path(args.readme) if args.readme else None
    if readme and refresh_readme(readme, render(groups, pictures, prefix(readme), saved_runs)):
        print(f"refreshed the leaderboard block of {args.readme}")
    return 0
