"""Run records: one JSON file per (architecture, configuration, seed), written atomically, never clobbered.

A record is written to a temporary file in the same folder, flushed to disk, then linked to its final name:
``os.link`` fails when the name exists, so a finished run is never overwritten by accident, and a reader never
sees half a file. ``replace=True`` (``--force``) swaps the old record out with an atomic ``os.replace``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from benchmarks.atomic import write_atomically

STATUSES = ("ok", "diverged", "oom", "error")
DONE = ("ok", "diverged")  # a resumed suite skips these; oom and error runs are tried again
REQUIRED = {
    "arch": str, "config": dict, "epochs": list, "final": (dict, type(None)), "params": int,
    "flops": (int, float), "peak_memory_bytes": (int, type(None)), "env": dict, "data": dict, "status": str,
}  # fmt: skip
FINAL_KEYS = ("test_acc", "train_acc", "train_loss", "train_examples_per_sec", "eval_examples_per_sec", "train_seconds")
SCHEMA_VERSION = 1


class RecordExists(FileExistsError):
    pass


def _jsonable(value):
    """Non-finite floats are written as strings: JSON has no NaN, and a diverged loss is exactly that."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_record(path: Path, record: dict, replace: bool = False) -> Path:
    text = json.dumps(_jsonable(record), indent=2, sort_keys=True, allow_nan=False) + "\n"
    try:
        return write_atomically(path, text, replace=replace)
    except FileExistsError:
        raise RecordExists(f"{path} exists already; not overwritten (--force reruns it)") from None


def validate(record) -> str | None:
    """None for a well-formed record, else what is wrong with it."""
    if not isinstance(record, dict):
        return "not a JSON object"
    for key, kind in REQUIRED.items():
        if key not in record:
            return f"missing key {key!r}"
        if not isinstance(record[key], kind) or isinstance(record[key], bool):
            return f"key {key!r} has the wrong type"
    if record["status"] not in STATUSES:
        return f"unknown status {record['status']!r}"
    if record["status"] == "ok":
        final = record["final"]
        if not isinstance(final, dict) or any(k not in final for k in FINAL_KEYS):
            return "an ok record without its final numbers"
        acc = final["test_acc"]
        if not isinstance(acc, (int, float)) or not 0.0 <= acc <= 1.0:
            return "test_acc is not a fraction"
    for key in ("seed", "profile", "device", "precision"):
        if key not in record["config"]:
            return f"config lacks {key!r}"
    return None


def read_record(path: Path) -> tuple[dict | None, str | None]:
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return None, f"unreadable JSON ({err.__class__.__name__})"
    problem = validate(record)
    return (None, problem) if problem else (record, None)


def read_records(runs_dir: Path, warn=None) -> list[dict]:
    """Every valid record under ``runs_dir``, sorted by file name; each malformed one is skipped with a warning."""
    records = []
    for path in sorted(Path(runs_dir).rglob("*.json")):
        record, problem = read_record(path)
        if problem:
            if warn:
                warn(f"skipping malformed record {path}: {problem}")
            continue
        records.append(record)
    return records


def is_done(path: Path) -> bool:
    record, _ = read_record(path) if Path(path).exists() else (None, None)
    return record is not None and record["status"] in DONE
