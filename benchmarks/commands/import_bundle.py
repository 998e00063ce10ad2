"""``python -m benchmarks import-bundle FILE``: a GPU slot's bundle (``gpu-check``) into the committed results.

Its records go to ``results/runs/<machine>/`` and its pytest-benchmark JSON to ``results/benchmarks/<machine>/``,
each file by its name. A file already there with the same bytes is left as it is; one there with other bytes is
never replaced: it is named, and the command exits 1. Every record is read and checked before anything is written.
Then the leaderboard regenerates from ``results/`` (``--no-leaderboard`` to skip it).
"""

from __future__ import annotations

import argparse
import json
import tarfile
from pathlib import Path

from benchmarks.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", metavar="FILE", help="the slot-bundle.tar.gz a GPU slot returned")
    parser.add_argument("--runs", default="results/runs", help="records folder (default: results/runs)")
    parser.add_argument("--benchmarks", default="results/benchmarks",
                        help="pytest-benchmark folder (default: results/benchmarks)")  # fmt: skip
    parser.add_argument("--no-leaderboard", action="store_true", help="put the files in place only")


def main(args) -> int:
    from benchmarks.atomic import write_atomically
    from benchmarks.run import bundle
    from benchmarks.schema import records

    path = Path(args.bundle)
    if not path.is_file():
        raise UsageError(f"{args.bundle}: no such file")
    try:
        files = bundle.read(path)
    except (tarfile.TarError, OSError, EOFError, ValueError) as err:
        raise UsageError(f"{args.bundle}: not a gzipped tar file ({err})") from None
    placed = []  # (where it goes, its bytes)
    for name, data in sorted(files.items()):
        parts = Path(name).parts
        if parts[0] == "runs" and name.endswith(".json") and len(parts) == 3:
            try:
                record = records.from_json(json.loads(data))
            except ValueError as err:
                raise UsageError(f"{args.bundle}: {name} is not a valid run record ({err})") from None
            if record.machine != parts[1]:
                raise UsageError(f"{args.bundle}: {name} names machine {record.machine}, not its folder")
            placed.append((Path(args.runs, *parts[1:]), data))
        elif parts[0] == "benchmarks" and name.endswith(".json") and len(parts) >= 3:
            placed.append((Path(args.benchmarks, *parts[1:]), data))
    if not any(p.is_relative_to(Path(args.runs)) for p, _ in placed):
        raise UsageError(f"{args.bundle}: holds no run records")
    new = same = 0
    conflicts = []
    for target, data in placed:
        if target.exists():
            if target.read_bytes() == data:
                same += 1
            else:
                conflicts.append(target)
            continue
        write_atomically(target, data, replace=False)
        new += 1
    print(f"{args.bundle}: {new} files put in place, {same} there already with the same bytes"
          + (f", {len(conflicts)} left out" if conflicts else ""))  # fmt: skip
    for target in conflicts:
        print(f"  {target}: another file of this name is there; not replaced (compare them, move one aside)")
    if not args.no_leaderboard:
        from benchmarks.commands import leaderboard

        parser = argparse.ArgumentParser()
        leaderboard.add_arguments(parser)
        code = leaderboard.main(parser.parse_args(["--runs", args.runs, "--benchmarks", args.benchmarks]))
        if code:
            return code
    return 1 if conflicts else 0
