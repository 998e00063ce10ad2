"""The one bundle a GPU slot returns: everything its work folder holds (records, pytest-benchmark JSON, the log and
the plan) in one ``slot-bundle.tar.gz``, with a text summary beside it, both replaced atomically whenever a file
in it changes, so that a command killed at any point returns every run that had finished.

A lent machine gives back at most 8 files, at most 2 folders down, 16 MiB each, named in letters, digits, ``.``,
``_`` and ``-``: ``check_returnable`` says what of a folder would not come back. ``unpack`` reads a bundle back,
refusing any member that would land outside its folder.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

from benchmarks.atomic import write_atomically
from benchmarks.train import checkpoint

BUNDLE = "slot-bundle.tar.gz"
SUMMARY = "slot-summary.txt"
LOG = "slot.log"
TOP = "slot"  # the bundle's one top folder
PACKED = ("runs", "benchmarks", LOG, "slot.json")  # of the work folder
RETURN_FILES, RETURN_DEPTH, RETURN_BYTES = 8, 2, 16 * 2**20  # what a lent machine gives back of $OUT
RETURNABLE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def members(work: Path) -> list[Path]:
    """The work folder's files that go into the bundle, sorted; temporary files and a stopped run's checkpoint (up
    to half a gigabyte, and of use only on the machine that resumes it) left out."""
    found = []
    for name in PACKED:
        path = work / name
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found += [p for p in path.rglob("*") if p.is_file() and not p.name.endswith((".tmp", checkpoint.SUFFIX))]
    return sorted(found)


def inputs(work: Path) -> tuple:
    """What the bundle would be made of now (names, sizes, modification times): unchanged, no new bundle."""
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in members(work) if p.name != LOG)


def pack(work: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in members(work):
            tar.add(path, arcname=f"{TOP}/{path.relative_to(work).as_posix()}", recursive=False)
    return buffer.getvalue()


def write(work: Path, out: Path, summary: str) -> Path:
    """The bundle and the summary (and a copy of the log, to read without unpacking), each replaced atomically."""
    path = write_atomically(out / BUNDLE, pack(work))
    write_atomically(out / SUMMARY, summary)
    if (work / LOG).is_file():
        write_atomically(out / LOG, (work / LOG).read_bytes())
    return path


def read(bundle: Path) -> dict[str, bytes]:
    """Every file of ``bundle`` by its path inside the top folder (``runs/<machine>/<name>.json``). Raises
    ValueError on a member outside the top folder or any that is not a plain file or folder."""
    with tarfile.open(bundle, mode="r:gz") as tar:
        out = {}
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if not parts or parts[0] != TOP or ".." in parts or Path(member.name).is_absolute():
                raise ValueError(f"{bundle}: {member.name!r} is not inside {TOP}/")
            if member.isdir():
                continue
            if not member.isfile():
                raise ValueError(f"{bundle}: {member.name!r} is not a plain file")
            out[Path(*parts[1:]).as_posix()] = tar.extractfile(member).read()
        return out


def unpack(bundle: Path, dest: Path) -> int:
    """Extract ``bundle``'s files into ``dest`` (its top folder dropped); the number of files (``read`` checks)."""
    files = read(bundle)
    for relative, data in files.items():
        write_atomically(dest / relative, data)
    return len(files)


def check_returnable(folder: Path) -> list[str]:
    """What of ``folder`` a lent machine would not give back (at most 8 files, 2 folders down, 16 MiB each, plain
    names): one line each; [] when all of it comes back."""
    problems = []
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if len(files) > RETURN_FILES:
        problems.append(f"{len(files)} files, more than {RETURN_FILES}")
    for path in files:
        relative = path.relative_to(folder)
        if len(relative.parts) - 1 > RETURN_DEPTH:
            problems.append(f"{relative}: {len(relative.parts) - 1} folders down, more than {RETURN_DEPTH}")
        if path.stat().st_size > RETURN_BYTES:
            problems.append(f"{relative}: {path.stat().st_size / 2**20:.1f} MiB, more than 16")
        if not all(RETURNABLE_NAME.match(part) for part in relative.parts):
            problems.append(f"{relative}: a name with other characters than letters, digits, '.', '_' and '-'")
    return problems


def summary(work: Path, plan: dict) -> str:
    """The slot in a few lines: each step's status, then each record and each throughput benchmark."""
    from benchmarks.schema import records

    lines = [
        f"slot on {plan['name']} ({plan['machine']}), {plan['seconds']:,.0f} s of {plan['minutes']:g} min"
        + ("" if plan["finished"] else ", still running")
        + f"; assumed where no record: {plan['assumed']}"
    ]
    lines += [f"  {s['step']}: {s['status']}, {s['seconds']:,.0f} s" for s in plan["steps"]]
    found = records.read_records(work / "runs")
    lines.append(f"{len(found)} records:")
    for r in found:
        line = (
            f"  {r.arch} seed {r.config.seed} ({r.config.profile}, {r.config.recipe.name}, {r.config.resolution} px, "
            f"{r.config.epochs} ep): {r.status}"
        )
        f = r.final
        if f is not None:
            tta = ", ".join(f"{k} {'-' if v is None else f'{v:.1f} s'}" for k, v in f.time_to_accuracy.items())
            rate = f"{f.train_examples_per_sec:,.0f}" if f.train_examples_per_sec else "-"
            line += (f", test acc {f.test_acc:.4f}, {rate} examples/s, {f.train_seconds:.1f} s training "
                     f"(warm-up {f.warmup_seconds or 0:.1f} s), time to {tta}")  # fmt: skip
        lines.append(line)
    benches = sorted((work / "benchmarks").rglob("*.json")) if (work / "benchmarks").is_dir() else []
    for path in benches:
        for b in json.loads(path.read_text()).get("benchmarks", []):
            extra = b.get("extra_info", {})
            if "examples_per_sec" in extra:
                lines.append(f"  bench {b['name']}: {extra['examples_per_sec']:,.0f} examples/s, "
                             f"{extra['model_flops_per_sec'] / 1e12:,.1f} model TFLOP/s")  # fmt: skip
            elif "flops_per_sec" in extra:
                lines.append(f"  bench {b['name']}: {extra['flops_per_sec'] / 1e12:,.1f} TFLOP/s")
    return "\n".join(lines) + "\n"
