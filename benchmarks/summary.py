"""The run records summarised once, per leaderboard group, for the tables and the plots alike.

A group is one (machine, profile, precision, data) — ``GROUP``, the only definition of it. Inside a group, one
row per (architecture, configuration) over its seeds. The leaderboard and the plots both read ``Group`` objects
and never go back to the records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import pandas as pd

from benchmarks.records import RunRecord

# what must match for an ablation to be compared with nin (besides the group)
SAME_CONFIG = ["epochs", "batch_size", "lr", "optimizer", "resolution", "train_subset", "test_subset", "fast"]


class GroupKey(NamedTuple):
    machine: str
    profile: str
    precision: str
    data: str

    @property
    def slug(self) -> str:
        """For file names: the group's fields, already slugs or plain words, joined."""
        return "-".join(self[:3]) + ("" if self.data == "real" else f"-{self.data}")


GROUP = GroupKey._fields


@dataclass(frozen=True)
class Group:
    key: GroupKey
    device_names: tuple[str, ...]  # the human-readable names its records give (one, unless the name format changed)
    torch_versions: tuple[str, ...]
    runs: pd.DataFrame  # one row per record
    summary: pd.DataFrame  # one row per (architecture, configuration)
    ablations: list[tuple]  # (ablation, nin) summary rows trained under the same configuration

    @property
    def has_ok(self) -> bool:
        return bool((self.runs.status == "ok").any())


def group_key(record: RunRecord) -> GroupKey:
    return GroupKey(record.machine, record.config.profile, record.config.precision, record.data.source)


def frame(records: list[RunRecord]) -> pd.DataFrame:
    """One row per record, the fields the tables and plots need."""
    rows = []
    for r in records:
        c, final, ref = r.config, r.final, r.reference
        rows.append({
            "arch": r.arch, "run_id": r.run_id, "seed": c.seed, "status": r.status,
            "diverged_epoch": r.diverged_epoch, "tags": tuple(r.tags), "epochs_log": r.epochs,
            "device_name": r.env.get("device_name", "?"), "torch": r.env.get("torch", "?"),
            "batch_used": r.batch_size_used or c.batch_size, "oom_retried": bool(r.batch_size_used),
            **{k: getattr(c, k) for k in SAME_CONFIG},
            "params": r.params, "gflops": r.flops / 1e9,
            "test_acc": final.test_acc if final else None, "train_acc": final.train_acc if final else None,
            "train_eps": final.train_examples_per_sec if final else None,
            "train_seconds": final.train_seconds if final else None,
            "peak_mib": r.peak_memory_bytes / 2**20 if r.peak_memory_bytes else None,
            "ref_acc_low": ref.test_acc_low if ref else None, "ref_acc_high": ref.test_acc_high if ref else None,
            "ref_eps_low": ref.examples_per_sec_low if ref else None,
            "ref_eps_high": ref.examples_per_sec_high if ref else None,
            "ref_device": ref.device if ref else None,
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
    """One row per (architecture, configuration, batch actually used): means and stds over the ok seeds, failures
    named. A seed that an out-of-memory retry trained at a smaller batch is a row of its own, never averaged in.

    ``label`` is the architecture's name, with the configuration id added where one architecture has several, and
    the retry said where there was one.
    """
    rows = []
    configs_per_arch = df.groupby("arch").run_id.nunique()
    for (arch, run_id, batch_used), g in df.groupby(["arch", "run_id", "batch_used"], sort=True):
        ok, first = g[g.status == "ok"], g.iloc[0]
        some = len(ok) > 0
        label = arch if configs_per_arch[arch] == 1 else f"{arch} [{run_id[:6]}]"
        if first.oom_retried:
            label += f" (OOM retry: batch {int(batch_used)}, lr not scaled)"
        rows.append({
            "arch": arch, "run_id": run_id, "first": first, "n_ok": len(ok), "failures": failures_text(g),
            "label": label,
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


def groups(records: list[RunRecord]) -> list[Group]:
    """Every group of the records, sorted by key, each summarised once."""
    by_key: dict[GroupKey, list[RunRecord]] = {}
    for r in records:
        by_key.setdefault(group_key(r), []).append(r)
    out = []
    for key in sorted(by_key):
        members = sorted(by_key[key], key=lambda r: (r.arch, r.run_id, r.config.seed))
        runs = frame(members)
        summary = summarize(runs)
        out.append(Group(
            key, tuple(sorted(set(runs.device_name))), tuple(sorted(set(runs.torch))), runs, summary,
            ablation_pairs(summary),
        ))  # fmt: skip
    return out
