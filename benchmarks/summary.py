"""The run records as pandas frames, shared by the leaderboard tables and the plots so that both count, group
and average the same way: one row per record, then one row per (architecture, configuration) over its seeds."""

from __future__ import annotations

import pandas as pd

from benchmarks.config import config_id

# what must match for an ablation to be compared with nin (besides the group: device, profile, precision)
SAME_CONFIG = ["epochs", "batch_size", "lr", "resolution", "train_subset", "test_subset", "compile", "channels_last"]


def frame(records: list[dict]) -> pd.DataFrame:
    """One row per record, the fields the tables and plots need."""
    rows = []
    for r in records:
        c, final, ref = r["config"], r["final"] or {}, r.get("reference") or {}
        rows.append({
            "arch": r["arch"], "run_id": config_id(c), "seed": c.get("seed"), "status": r["status"],
            "diverged_epoch": r.get("diverged_epoch"), "tags": tuple(r.get("tags", ())), "epochs_log": r["epochs"],
            "device_name": r["env"].get("device_name", "?"), "profile": c.get("profile", "?"),
            "precision": c.get("precision", "?"), "data": r["data"].get("source", "?"),
            "torch": r["env"].get("torch", "?"),
            **{k: c.get(k) for k in SAME_CONFIG},
            "params": r["params"], "gflops": r["flops"] / 1e9,
            "test_acc": final.get("test_acc"), "train_acc": final.get("train_acc"),
            "train_eps": final.get("train_examples_per_sec"), "train_seconds": final.get("train_seconds"),
            "peak_mib": r["peak_memory_bytes"] / 2**20 if r["peak_memory_bytes"] else None,
            "ref_acc_low": ref.get("test_acc_low"), "ref_acc_high": ref.get("test_acc_high"),
            "ref_eps_low": ref.get("examples_per_sec_low"), "ref_eps_high": ref.get("examples_per_sec_high"),
            "ref_device": ref.get("device"),
        })  # fmt: skip
    return pd.DataFrame(rows)


def mean_std_text(values: pd.Series, digits: int = 3) -> str:
    values = values.dropna()
    if values.empty:
        return ""
    if len(values) == 1:
        return f"{values.iloc[0]:.{digits}f} (n=1)"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f} (n={len(values)})"


def failures_text(group: pd.DataFrame) -> str:
    failed = group[group.status != "ok"]
    parts = []
    for status, rows in failed.groupby("status", sort=True):
        text = status
        if status == "diverged":
            epochs = sorted({int(e) for e in rows.diverged_epoch.dropna()})
            text += f" (epoch {', '.join(map(str, epochs))})" if epochs else ""
        parts.append(f"{len(rows)} {text}" if len(group) > 1 else text)
    return ", ".join(parts)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (architecture, configuration): means and stds over the ok seeds, failures named.

    ``label`` is the architecture's name, with the configuration id added where one architecture has several.
    """
    rows = []
    configs_per_arch = df.groupby("arch").run_id.nunique() if len(df) else pd.Series(dtype=int)
    for (arch, run_id), g in df.groupby(["arch", "run_id"], sort=True):
        ok, first = g[g.status == "ok"], g.iloc[0]
        some = len(ok) > 0
        rows.append({
            "arch": arch, "run_id": run_id, "first": first, "n_ok": len(ok), "failures": failures_text(g),
            "label": arch if configs_per_arch[arch] == 1 else f"{arch} [{run_id[:6]}]",
            "test_acc": ok.test_acc.mean() if some else None, "test_acc_std": ok.test_acc.std(ddof=1) if some else None,
            "test_acc_text": mean_std_text(ok.test_acc),
            "train_acc": ok.train_acc.mean() if some else None,
            "train_eps": ok.train_eps.mean() if some else None, "train_eps_std": ok.train_eps.std(ddof=1) if some else None,
            "train_seconds": ok.train_seconds.mean() if some else None,
            "peak_mib": ok.peak_mib.max() if some else None,
            "ok_epochs": list(ok.epochs_log),
        })  # fmt: skip
    return pd.DataFrame(rows)


def ablation_pairs(summary: pd.DataFrame) -> list[tuple]:
    """(ablation, nin) summary rows trained under the same configuration, in the summary's order."""

    def key(s):
        return tuple(str(getattr(s.first, k)) for k in SAME_CONFIG)

    base = {key(s): s for s in summary.itertuples() if s.arch == "nin"}
    return [(s, base[key(s)]) for s in summary.itertuples() if "ablation" in s.first.tags and key(s) in base]
