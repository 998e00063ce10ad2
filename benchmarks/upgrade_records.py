"""``python -m benchmarks.upgrade_records [FOLDER ...]``: rewrite records of an older shape in today's, once.

A schema-1 record becomes schema 2 (``records.upgrade_v1``) and a record from before ``ReportFacts`` gets them,
decided by the runner's own rule (``benchmarks.run.one.report_facts``), so that the report reads records and nothing else.
Each file is replaced atomically; one already in today's shape is left alone, byte for byte. A file whose name is
not the one its configuration gives today (``RunConfig.file_name``: the id changes when a configuration field is
added) is moved to that name, so that a configuration has one id, in its file name and in the leaderboard alike.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from benchmarks import records
from benchmarks.records import RunRecord


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


def with_facts(found: list[RunRecord]) -> list[RunRecord]:
    """Each record as it is, or with its report facts decided now where it has none (``with_report_facts``)."""
    return [r if r.report is not None else with_report_facts(r) for r in found]


def _rename(folder: Path, path: Path, record: RunRecord) -> bool:
    """Move ``path`` to the name its configuration gives today; False where it has it already or the name is taken
    (by another record: both stay, with a warning)."""
    target = Path(folder) / record.config.file_name()
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
        record = records.from_json(data)
        if data.get("schema", 1) != records.SCHEMA_VERSION or data.get("report") is None:
            record = with_report_facts(record)
            if record.report is None:
                print(f"warning: {path}: its entry is not in the registry; left without report facts", file=sys.stderr)
            records.write_record(path, record, replace=True)
            changed += 1
        changed += _rename(folder, path, record) and data.get("report") is not None
    return changed


def main(argv=None) -> int:
    folders = (argv if argv is not None else sys.argv[1:]) or ["results/runs"]
    for folder in folders:
        print(f"{folder}: {upgrade(Path(folder))} record(s) rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
