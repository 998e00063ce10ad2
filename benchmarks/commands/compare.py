"""``python -m benchmarks compare A B``: two sets of records side by side (``benchmarks.report.compare``).

Each of A and B is a records folder, a machine slug (its folder under ``--runs``), or a git commit (the records
folder as that commit holds it, read with ``git archive``; nothing in the work tree changes). Exit 1 when the two
share no configuration (the report says why).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from benchmarks.commands.leaderboard import read_groups
from benchmarks.errors import UsageError
from benchmarks.report import compare


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", metavar="A", help="records folder, machine slug or git commit")
    parser.add_argument("b", metavar="B", help="records folder, machine slug or git commit")
    parser.add_argument("--runs", default="results/runs", help="where machine slugs and commits find the records")
    parser.add_argument("--across-compute-paths", action="store_true",
                        help="also pair configurations whose precision or compute path differ (a bf16 run against "
                        "an fp32 one: the ratio then measures the precision)")  # fmt: skip


def _commit_records(commit: str, runs: str, into: Path) -> Path | None:
    """``runs`` as ``commit`` holds it, extracted under ``into``; None when ``commit`` is no commit of this repo."""
    if subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"],
                      capture_output=True).returncode != 0:  # fmt: skip
        return None
    archive = subprocess.run(["git", "archive", "--format=tar", commit, runs], capture_output=True)
    if archive.returncode != 0:
        raise UsageError(f"commit {commit} holds no {runs}")
    tar = into / "records.tar"
    tar.write_bytes(archive.stdout)
    with tarfile.open(tar) as t:
        t.extractall(into, filter="data")
    return into / runs


def resolve(source: str, runs: str, scratch: Path) -> Path:
    if Path(source).is_dir():
        return Path(source)
    if (Path(runs) / source).is_dir():
        return Path(runs) / source
    found = _commit_records(source, runs, scratch)
    if found is None:
        raise UsageError(f"{source}: not a records folder, a machine under {runs}, nor a git commit")
    return found


def main(args) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        sides = []
        for i, source in enumerate((args.a, args.b)):
            scratch = Path(tmp) / str(i)
            scratch.mkdir()
            sides.append(read_groups(str(resolve(source, args.runs, scratch))))
        text, paired = compare.report(args.a, args.b, *sides, across_compute_paths=args.across_compute_paths)
        sys.stdout.write(text)
    return 0 if paired else 1  # nothing in both: the comparison compared nothing
