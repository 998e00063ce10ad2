"""``python -m benchmarks leaderboard --format csv|json``: the summary as data, one row per summarised configuration.

The rows are the tables' rows (``summary.groups``, each configuration summarised once), with the machine and the
code version that ran them, so that results can be loaded beside others' (timm's results CSVs are used this way).
Numbers are the tables' numbers before formatting: accuracy as a fraction, seconds, examples per second.
"""

from __future__ import annotations

import json

import pandas as pd

from benchmarks.measure import tta
from benchmarks.report import summary as summary_io

COLUMNS = [
    "machine", "device_name", "profile", "precision", "data", "architecture", "arch", "config_id", "recipe",
    "epochs", "train_subset", "batch_size", "optimizer", "lr", "resolution", "params", "gflops", "n_ok", "n_learned",
    "not_counted", "test_acc_mean", "test_acc_ci95", "last_epochs_acc_mean", "train_acc", "train_examples_per_sec",
    "train_seconds", "warmup_seconds", "peak_memory_mib", *[f"time_to_{tta.key(t)}_median_s" for t in tta.TARGETS], "torch", "commits",
]  # fmt: skip


def _value(v):
    """A plain Python value (numpy's scalars unwrapped), None for what is not there (None or NaN)."""
    v = v.item() if hasattr(v, "item") else v
    return None if v is None or (isinstance(v, float) and pd.isna(v)) else v


def _count(v):
    """A count: an int, or None (pandas holds a column of counts with a gap in it as floats)."""
    v = _value(v)
    return None if v is None else int(v)


def row_dicts(groups: list[summary_io.Group]) -> list[dict]:
    """One dict a summarised configuration, of plain Python values: the JSON's rows, and the CSV's."""
    out = []
    for g in groups:
        for s in g.summary.itertuples():
            f = s.first
            row = {
                "machine": g.key.machine, "device_name": ", ".join(g.device_names), "profile": g.key.profile,
                "precision": g.key.precision, "data": g.key.data, "architecture": s.label, "arch": s.arch,
                "config_id": s.run_id, "recipe": f.recipe_name, "epochs": int(f.epochs),
                "train_subset": _count(f.train_subset), "batch_size": int(f.batch_used), "optimizer": f.optimizer,
                "lr": float(f.lr), "resolution": int(f.resolution), "params": _count(f.params),
                "gflops": _value(f.gflops), "n_ok": int(s.n_ok), "n_learned": int(s.n_learned),
                "not_counted": s.failures,
                "test_acc_mean": s.acc.mean if s.acc and g.accuracy_is_result else None,
                "test_acc_ci95": s.acc.half_width if s.acc and g.accuracy_is_result else None,
                "last_epochs_acc_mean": s.last_acc.mean if s.last_acc and g.accuracy_is_result else None,
                "train_acc": _value(s.train_acc) if g.accuracy_is_result else None,
                "train_examples_per_sec": _value(s.train_eps), "train_seconds": _value(s.train_seconds),
                "warmup_seconds": _value(s.warmup_seconds), "peak_memory_mib": _value(s.peak_mib),
                **{f"time_to_{tta.key(t)}_median_s": (s.tta[t][0] if s.tta and g.accuracy_is_result else None)
                   for t in tta.TARGETS},
                "torch": ", ".join(g.torch_versions), "commits": " ".join(s.commits),
            }  # fmt: skip
            out.append({k: _value(v) for k, v in row.items()})
    return out


def rows(groups: list[summary_io.Group]) -> pd.DataFrame:
    frame = pd.DataFrame(row_dicts(groups), columns=COLUMNS)
    for column in ("train_subset", "params"):  # counts stay integers where a row lacks one
        frame[column] = frame[column].astype("Int64")
    return frame


def to_csv(groups: list[summary_io.Group]) -> str:
    return rows(groups).to_csv(index=False, lineterminator="\n")


def to_json(groups: list[summary_io.Group]) -> str:
    return json.dumps(row_dicts(groups), indent=1) + "\n"
