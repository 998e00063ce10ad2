"""``python -m benchmarks leaderboard``: results/LEADERBOARD.md (and a block of README.md) from the run records
(``benchmarks.report.leaderboard`` renders them); ``--format csv`` or ``json`` writes the summary to standard
output instead, and nothing else."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.atomic import write_atomically
from benchmarks.errors import UsageError
from benchmarks.report import export, plots, step_throughput
from benchmarks.report import summary as summary_io
from benchmarks.report.leaderboard import leaderboard_markdown, readme_block, refresh_readme, relative_prefix
from benchmarks.schema import records as records_io

FORMATS = ("markdown", "csv", "json")


COMMITTED_RUNS = Path("results/runs")  # the committed records: only their leaderboard goes into results/ and README


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", default=str(COMMITTED_RUNS), help="folder of run records (default: results/runs)")
    parser.add_argument("--out", help="the leaderboard file, its plots in plots/ beside it (default: "
                        "results/LEADERBOARD.md for results/runs, else LEADERBOARD.md beside the --runs folder)")  # fmt: skip
    parser.add_argument("--readme", help="README whose marked block is refreshed, '' for none (default: README.md "
                        "for results/runs, else none)")  # fmt: skip
    parser.add_argument("--no-plots", action="store_true", help="do not render the plots (nor link them)")
    parser.add_argument("--benchmarks", help="pytest-benchmark storage folder (default: results/benchmarks for "
                        "results/runs, else benchmarks/ beside the --runs folder)")  # fmt: skip
    parser.add_argument("--format", choices=FORMATS, default="markdown",
                        help="markdown: write the leaderboard files; csv, json: the summary to standard output")  # fmt: skip
    parser.add_argument("--table", choices=sorted(export.TABLES), default="configs",
                        help="with --format csv or json: runs (one row a record), configs (one row a configuration, "
                        "as the tables summarise it) or ablations (the Welch tests)")  # fmt: skip
    parser.add_argument("--columns", action="store_true", help="print every export column's definition and exit")
    parser.add_argument("--allow-empty", action="store_true",
                        help="regenerate from a folder that holds no record (the tables then say so)")  # fmt: skip


def read_groups(runs: str, allow_empty: bool = False) -> list[summary_io.Group]:
    """The summarised groups of the records under ``runs``; UsageError (before anything is written) for a folder
    that does not exist, or that holds no valid record without ``allow_empty``."""
    folder = Path(runs)
    if not folder.is_dir():
        raise UsageError(f"--runs {runs}: {'not a folder' if folder.exists() else 'no such folder'}; nothing written")
    warn = lambda message: print(f"warning: {message}", file=sys.stderr)  # noqa: E731
    found = records_io.read_records(folder, warn=warn)
    if not found and not allow_empty:
        raise UsageError(f"--runs {runs} holds no run record; nothing written (--allow-empty regenerates from it)")
    return summary_io.groups(found)


def prune_stale(plots_dir: Path, written: dict) -> list[Path]:
    """Remove the PNGs under ``plots_dir`` this rendering did not write: the plots folder holds what is linked."""
    keep = {p.resolve() for files in written.values() for p in files.values()}
    stale = [p for p in sorted(plots_dir.glob("*.png")) if p.resolve() not in keep] if plots_dir.is_dir() else []
    for path in stale:
        path.unlink()
    return stale


def destinations(args) -> tuple[Path, Path | None, Path]:
    """(leaderboard file, README or None, pytest-benchmark folder): the committed ones for the committed records,
    else beside the records folder, so that a leaderboard of other records never writes into results/ or README."""
    runs = Path(args.runs)
    committed = runs.resolve() == COMMITTED_RUNS.resolve()
    beside = runs.resolve().parent
    out = Path(args.out) if args.out else (Path("results/LEADERBOARD.md") if committed else beside / "LEADERBOARD.md")
    readme = args.readme if args.readme is not None else ("README.md" if committed else "")
    benches = args.benchmarks or ("results/benchmarks" if committed else beside / "benchmarks")
    return out, (Path(readme) if readme else None), Path(benches)


def main(args) -> int:
    if args.columns:
        sys.stdout.write(export.columns_markdown())
        return 0
    if args.table != "configs" and args.format == "markdown":
        raise UsageError("--table goes with --format csv or json")
    groups = read_groups(args.runs, args.allow_empty)
    out, readme, benches = destinations(args)
    if args.format != "markdown":
        write = export.to_csv if args.format == "csv" else export.to_json
        sys.stdout.write(write(groups, args.table))
        return 0
    warn = lambda message: print(f"warning: {message}", file=sys.stderr)  # noqa: E731
    out.parent.mkdir(parents=True, exist_ok=True)
    results = out.parent  # the plots live in results/plots, beside the leaderboard
    pictures = {} if args.no_plots else plots.render_all(groups, results)
    if not args.no_plots:
        stale = prune_stale(results / "plots", pictures)
        print(f"rendered {sum(map(len, pictures.values()))} plots under {results / 'plots'}"
              + (f", removed {len(stale)} stale" if stale else ""))  # fmt: skip
    saved_runs = step_throughput.latest_per_device(benches, warn=warn, aliases=summary_io.device_aliases(groups))

    def prefix(markdown: Path) -> str | None:
        return None if args.no_plots else relative_prefix(results, markdown)

    write_atomically(out, leaderboard_markdown(groups, args.runs, pictures, prefix(out), saved_runs))
    print(f"wrote {out} from {sum(len(g.runs) for g in groups)} records and {len(saved_runs)} pytest-benchmark runs")
    if readme and refresh_readme(readme, readme_block(groups, pictures, prefix(readme))):
        print(f"refreshed the leaderboard block of {readme}")
    return 0
