"""``python -m benchmarks leaderboard --format csv|json [--table runs|configs|ablations]``: the records as data.

Three tables, tidy, each column declared once below with its one-line definition (``--columns`` prints them):
``runs``, one row per run record; ``configs`` (the default), one row per summarised configuration, as the tables
summarise it (n, mean, sd, 95% interval, time to accuracy with how many seeds reached it); ``ablations``, one row
per NiN ablation against nin under the same configuration (Welch's test). Numbers are plain numbers (accuracy as
a fraction, seconds, examples per second), floats rounded to 6 significant digits; an empty cell is a value that
is not there, and each table says which column tells why (status, n_ok, reason). timm's results CSVs and
pytest-benchmark's JSON are used this way: loaded beside others' in a notebook.
"""

from __future__ import annotations

import json
import statistics

import pandas as pd

from benchmarks.measure import tta
from benchmarks.report import summary as summary_io

TTA_KEYS = [tta.key(t).replace(".", "_") for t in tta.TARGETS]  # 0_85, 0_9, 0_92: a column name without a dot
WHERE = {
    "machine": "the machine's slug: its folder under results/runs",
    "device_name": "the device as torch names it (the CPU's model, ISA and threads)",
    "profile": "the profile the runs trained under (full, cpu, smoke)",
    "precision": "fp32, bf16 or fp16: the compute path's precision",
    "data": "real (Fashion-MNIST) or synthetic (throughput only)",
    "label": "the entry as the tables name it (with its configuration id where one entry has several)",
    "arch": "the registry entry",
    "config_id": "the configuration's id, shared by its seeds, as the records' file names carry it",
}
CONFIGURATION = {
    "recipe": "d2l or fast, with any --recipe-set parts in brackets",
    "epochs": "passes over the training images",
    "train_subset": "training images per epoch (empty: all 60,000)",
    "batch_size": "the batch the run trained at (after any out-of-memory retry)",
    "optimizer": "sgd, adamw or muon",
    "lr": "the (peak) learning rate",
    "resolution": "the input side in pixels",
    "params": "the network's parameters",
    "gflops": "forward GFLOPs of one image at that input side (torch.utils.flop_counter; a multiply-add is 2)",
}
RUN_COLUMNS = {
    **WHERE, **CONFIGURATION,
    "seed": "the run's seed (initialisation and order; every seed trains on the same images)",
    "status": "ok, diverged, oom, error, crashed or timeout",
    "counted": "whether the configuration's mean counts this run: ok, and its accuracy left chance",
    "test_acc": "test accuracy after the last epoch (empty: the run did not finish, or its accuracy is no result)",
    "train_acc": "training accuracy over the last epoch",
    "train_examples_per_sec": "training examples per second over the timed steps (the warm-up excluded)",
    "train_seconds": "the step clock: seconds of training steps, warm-up and evaluation excluded",
    "warmup_seconds": "the warm-up before the clock: each batch shape and mode once (compilation, autotuning)",
    "peak_memory_mib": "peak RSS on a CPU, peak CUDA memory on a GPU, in MiB",
    **{f"time_to_{k}_s": f"step-clock seconds until the test accuracy first reached {t:.2f} (empty with status ok: "
       "not reached)" for k, t in zip(TTA_KEYS, tta.TARGETS)},
    "torch": "the torch version that ran it",
    "commit": "the git commit of the code that ran it",
}  # fmt: skip
CONFIG_COLUMNS = {
    **WHERE, **CONFIGURATION,
    "n_ok": "runs that finished (status ok)",
    "n_counted": "runs the mean counts: ok, and left chance",
    "not_counted": "the runs not counted, and why",
    "test_acc_mean": "mean test accuracy over the counted runs (empty: no counted run, or no result)",
    "test_acc_sd": "its sample standard deviation (empty below 2 counted runs)",
    "test_acc_ci95": "the half width of the mean's 95% Student-t interval (empty below 2 counted runs)",
    "test_acc_seeds": "each counted run's test accuracy, in seed order, ';'-separated",
    "train_examples_per_sec": "mean over the ok runs of their training examples per second",
    "train_seconds": "mean over the ok runs of the step clock's seconds",
    "warmup_seconds": "median over the ok runs of the warm-up's seconds",
    "peak_memory_mib": "the largest peak memory of the ok runs, in MiB",
    **{f"time_to_{k}_median_s": f"median over the ok runs of the seconds to {t:.2f} (empty: not reached by half "
       f"of them, or no result; time_to_{k}_reached says which)" for k, t in zip(TTA_KEYS, tta.TARGETS)},
    **{f"time_to_{k}_reached": f"ok runs that reached {t:.2f}" for k, t in zip(TTA_KEYS, tta.TARGETS)},
    "torch": "the torch versions of the group", "commits": "the commits of the code that ran the runs",
}  # fmt: skip
ABLATION_COLUMNS = {
    **{k: WHERE[k] for k in ("machine", "device_name", "profile", "precision", "data")},
    "ablation": "the NiN ablation (its registry entry)", "config_id": "the ablation's configuration id",
    "nin_config_id": "nin's configuration id under the same configuration",
    "n_ablation": "the ablation's counted runs", "n_nin": "nin's counted runs",
    "acc_difference": "the ablation's mean test accuracy minus nin's",
    "acc_ci95_low": "the low end of Welch's 95% interval of that difference",
    "acc_ci95_high": "its high end", "acc_p": "Welch's two-sided p-value",
    "acc_verdict": "higher, lower or not significant (p < 0.05); empty: no test (see reason)",
    "eps_difference": "the ablation's mean training examples per second minus nin's",
    "eps_p": "Welch's p-value of that difference",
    "reason": "why there is no accuracy test (too few counted runs, a head that needs a spatial map)",
}  # fmt: skip
TABLES = {"runs": RUN_COLUMNS, "configs": CONFIG_COLUMNS, "ablations": ABLATION_COLUMNS}


def _value(v):
    """A plain Python value (numpy's scalars unwrapped; floats to 6 significant digits), None where there is none."""
    v = v.item() if hasattr(v, "item") else v
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return None
    return float(f"{v:.6g}") if isinstance(v, float) else v


def _count(v):
    """A count: an int, or None (pandas holds a column of counts with a gap in it as floats)."""
    v = _value(v)
    return None if v is None else int(v)


def _where(g) -> dict:
    return {"machine": g.key.machine, "device_name": ", ".join(g.device_names), "profile": g.key.profile,
            "precision": g.key.precision, "data": g.key.data}  # fmt: skip


def _configuration(f) -> dict:
    return {"recipe": f.recipe_name, "epochs": int(f.epochs), "train_subset": _count(f.train_subset),
            "batch_size": int(f.batch_used), "optimizer": f.optimizer, "lr": float(f.lr),
            "resolution": int(f.resolution), "params": _count(f.params), "gflops": _value(f.gflops)}  # fmt: skip


def config_rows(groups: list[summary_io.Group]) -> list[dict]:
    out = []
    for g in groups:
        result = g.accuracy_is_result
        for s in g.summary.itertuples():
            f, accs = s.first, list(s.accs) if result else []
            tta_cells = {}
            for k, t in zip(TTA_KEYS, tta.TARGETS):
                median, _, missed = s.tta.get(t, (None, None, 0)) if s.tta and result else (None, None, 0)
                tta_cells[f"time_to_{k}_median_s"] = median
                tta_cells[f"time_to_{k}_reached"] = int(s.n_ok) - missed if s.tta and result else None
            out.append({
                **_where(g), "label": s.label, "arch": s.arch, "config_id": s.run_id, **_configuration(f),
                "n_ok": int(s.n_ok), "n_counted": int(s.n_learned), "not_counted": s.failures,
                "test_acc_mean": s.acc.mean if s.acc and result else None,
                "test_acc_sd": statistics.stdev(accs) if len(accs) > 1 else None,
                "test_acc_ci95": s.acc.half_width if s.acc and result else None,
                "test_acc_seeds": ";".join(f"{a:.4f}" for a in accs),
                "train_examples_per_sec": s.train_eps, "train_seconds": s.train_seconds,
                "warmup_seconds": s.warmup_seconds, "peak_memory_mib": s.peak_mib, **tta_cells,
                "torch": ", ".join(g.torch_versions), "commits": " ".join(s.commits),
            })  # fmt: skip
    return [{k: _value(v) for k, v in row.items()} for row in out]


def run_rows(groups: list[summary_io.Group]) -> list[dict]:
    out = []
    for g in groups:
        result = g.accuracy_is_result
        by_config = {(s.arch, s.run_id, s.first.batch_used): s for s in g.summary.itertuples()}
        for r in g.runs.sort_values(["arch", "run_id", "seed"]).itertuples():
            s = by_config[(r.arch, r.run_id, r.batch_used)]
            out.append({
                **_where(g), "label": s.label, "arch": r.arch, "config_id": r.run_id, **_configuration(r),
                "seed": int(r.seed), "status": r.status, "counted": bool(r.status == "ok" and r.learned and result),
                "test_acc": r.test_acc if result else None, "train_acc": r.train_acc if result else None,
                "train_examples_per_sec": r.train_eps, "train_seconds": r.train_seconds,
                "warmup_seconds": r.warmup_seconds, "peak_memory_mib": r.peak_mib,
                **{f"time_to_{k}_s": r.tta.get(tta.key(t)) if result else None
                   for k, t in zip(TTA_KEYS, tta.TARGETS)},
                "torch": r.torch, "commit": r.commit,
            })  # fmt: skip
    return [{k: _value(v) for k, v in row.items()} for row in out]


def ablation_rows(groups: list[summary_io.Group]) -> list[dict]:
    out = []
    for g in groups:
        for a in g.ablations:
            s, nin, acc, eps = a["ablation"], a["nin"], a["accuracy"], a["throughput"]
            verdict = None if acc is None else ("not significant" if not acc.significant else
                                                "higher" if acc.difference > 0 else "lower")  # fmt: skip
            out.append({
                **_where(g), "ablation": s.arch, "config_id": s.run_id, "nin_config_id": nin.run_id,
                "n_ablation": int(s.n_learned), "n_nin": int(nin.n_learned),
                "acc_difference": acc.difference if acc else None, "acc_ci95_low": acc.low if acc else None,
                "acc_ci95_high": acc.high if acc else None, "acc_p": acc.p_value if acc else None,
                "acc_verdict": verdict, "eps_difference": eps.difference if eps else None,
                "eps_p": eps.p_value if eps else None, "reason": a["reason"] or None,
            })  # fmt: skip
    return [{k: _value(v) for k, v in row.items()} for row in out]


BUILDERS = {"runs": run_rows, "configs": config_rows, "ablations": ablation_rows}
COUNTS = {"train_subset", "params", *(f"time_to_{k}_reached" for k in TTA_KEYS)}  # integers, with gaps


def row_dicts(groups: list[summary_io.Group], table: str = "configs") -> list[dict]:
    """The rows of ``table`` as dicts of plain Python values, in its columns' order: the JSON's rows, the CSV's."""
    columns = TABLES[table]
    return [{c: row.get(c) for c in columns} for row in BUILDERS[table](groups)]


def rows(groups: list[summary_io.Group], table: str = "configs") -> pd.DataFrame:
    frame = pd.DataFrame(row_dicts(groups, table), columns=list(TABLES[table]))
    for column in COUNTS & set(frame.columns):  # counts stay integers where a row lacks one
        frame[column] = frame[column].astype("Int64")
    return frame


def to_csv(groups: list[summary_io.Group], table: str = "configs") -> str:
    return rows(groups, table).to_csv(index=False, lineterminator="\n")


def to_json(groups: list[summary_io.Group], table: str = "configs") -> str:
    return json.dumps(row_dicts(groups, table), indent=1) + "\n"


def columns_markdown() -> str:
    """Every table's columns with their definitions, as markdown (``leaderboard --columns``)."""
    lines = []
    for name, columns in TABLES.items():
        lines += [f"## --table {name}", "", "| column | what it holds |", "|---|---|"]
        lines += [f"| `{c}` | {text} |" for c, text in columns.items()] + [""]
    return "\n".join(lines)
