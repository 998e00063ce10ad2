"""``python -m benchmarks.upgrade_records [FOLDER ...]``: rewrite records of an older shape in today's, once.

A schema-1 record becomes schema 2 (``upgrade_v1``) and a record from before ``ReportFacts`` gets them, decided by
the runner's own rule (``benchmarks.run.one.report_facts``), so that the report reads records and nothing else.
This is the only place that migrates: reading a record (``records.from_json``) never does, and refuses an old one
with this command's name.
Each file is replaced atomically; one already in today's shape is left alone, byte for byte. A file whose name is
not the one its configuration gives today (``RunConfig.file_name``: the id changes when a configuration field is
added) is moved to that name, so that a configuration has one id, in its file name and in the leaderboard alike.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from benchmarks.measure.machine import slugify
from benchmarks.schema import records
from benchmarks.schema.compute import ComputePath
from benchmarks.schema.records import RunRecord


def with_report_facts(record: RunRecord) -> RunRecord:
    """A record from before ``ReportFacts``, with them decided now by the runner's own rule, where the registry can
    be imported and knows the entry; else as it is (the report then judges it by its data alone). The committed
    records carry their facts (``python -m benchmarks.upgrade_records``), so the leaderboard needs neither."""
    try:
        import archs
        from benchmarks.run.one import report_facts  # here: the report's commands work without the registry

        entry = archs.get_entry(record.arch)
        return dataclasses.replace(record, report=report_facts(record.config, entry, shapes=True))
    except Exception:  # no registry, an entry it lacks, a profile of another version: the facts stay unknown
        return record


def from_any_json(data) -> RunRecord:
    """A record of any schema this suite ever wrote, in today's shape (schema 1 through ``upgrade_v1``)."""
    if isinstance(data, dict) and data.get("schema", 1) == 1:
        data = upgrade_v1(data)
    return records.from_json(data)


def upgrade_v1(old: dict) -> dict:
    """A schema-1 record (before fingerprints) in schema 2's shape. What it did not know is said, not invented:
    its machine is ``legacy-`` plus its device name, and its fast-path settings are those it recorded."""
    if not isinstance(old, dict) or not isinstance(old.get("config"), dict) or not isinstance(old.get("env"), dict):
        raise records.RecordError("schema 1 record without config or env")
    c, env = dict(old["config"]), dict(old["env"])
    name = env.get("device_name", "unknown")
    machine = "legacy-" + slugify(name.replace(" threads)", "t)"))
    cuda = c.get("device") == "cuda"
    channels_last, compiled = c.pop("channels_last", False), c.pop("compile", False)
    fused = c.pop("fused_optimizer", False)
    fast = ComputePath(
        precision=c.pop("precision", "fp32"), channels_last=channels_last, compile=compiled,
        optimizer_impl=("fused" if cuda else "foreach") if fused else "for-loop",
        cudnn_benchmark=cuda and (channels_last or compiled),  # what schema 1's harness switched on
    )  # fmt: skip
    config = {**c, "machine": machine, "fast": dataclasses.asdict(fast)}
    env.pop("hostname", None)
    new = {k: v for k, v in old.items() if k not in ("schema", "config", "env", "epochs", "final")}
    new.update(schema=records.SCHEMA_VERSION, config=config, env={**env, "machine": machine, "upgraded_from_schema": 1})
    new["epochs"] = [
        {**{k: v for k, v in e.items() if k not in ("train_examples", "train_seconds")},
         "timed_examples": e["train_examples"], "timed_seconds": e["train_seconds"]}
        for e in old.get("epochs", [])
    ]  # fmt: skip
    new["final"] = old.get("final")
    for key in ("description", "tags", "reference"):
        new.setdefault(key, "" if key == "description" else [] if key == "tags" else None)
    _refresh_from_registry(new)
    return new


def _refresh_from_registry(record: dict) -> None:
    """Tags and published numbers from the registry (the same source the runner copies from), where it has the
    entry: schema 1 copied an older, cruder form (NiN's range included its diverged build)."""
    try:
        import archs

        entry = archs.get_entry(record["arch"])
    except (ImportError, KeyError):  # no registry, or not this entry: what the record copied stays
        if record["reference"] is not None:
            record["reference"] = {"device": "", **record["reference"]}
        return
    record["tags"] = list(entry.tags)
    published = entry.published
    record["reference"] = (
        None if published is None else {**dataclasses.asdict(published), "not_converged": list(published.not_converged)}
    )


def _rename(path: Path, record: RunRecord) -> bool:
    """Move ``path`` to the name its configuration gives today, in the records folder it is in (the one that holds
    its machine's folder: an arm of an ablation stays in its arm); False where it has it already or the name is
    taken (by another record: both stay, with a warning)."""
    target = path.parent.parent / record.config.file_name()
    if target == path:
        return False
    if target.exists():
        print(f"warning: {path}: its name today, {target}, is taken; left where it is", file=sys.stderr)
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    path.rename(target)
    return True


def upgrade(folder: Path) -> int:
    """Rewrite every outdated record under ``folder`` and give each its name of today; the number changed."""
    changed = 0
    for path in sorted(Path(folder).rglob("*.json")):
        data = json.loads(path.read_text())
        record = from_any_json(data)
        if data.get("schema", 1) != records.SCHEMA_VERSION or data.get("report") is None:
            record = with_report_facts(record)
            if record.report is None:
                print(f"warning: {path}: its entry is not in the registry; left without report facts", file=sys.stderr)
            records.write_record(path, record, replace=True)
            changed += 1
        changed += _rename(path, record) and data.get("report") is not None
    return changed


def main(argv=None) -> int:
    folders = (argv if argv is not None else sys.argv[1:]) or ["results/runs"]
    for folder in folders:
        print(f"{folder}: {upgrade(Path(folder))} record(s) rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
