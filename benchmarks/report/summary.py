"""The run records summarised once, per leaderboard group, for the tables and the plots alike.

A group is one (machine, profile, precision, data) — ``GroupKey``, the only definition of it. Inside a group, one
row per (architecture, configuration, batch actually used) over its seeds. Accuracy is summarised over the seeds
that learned (``stats.learned``): a run left at chance is counted apart, never averaged in. The leaderboard and the
plots both read ``Group`` objects and never go back to the records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import pandas as pd

from benchmarks.report import stats
from benchmarks.schema import tta
from benchmarks.schema.config import same_config_fields
from benchmarks.schema.records import RunRecord

# what must match for an ablation to be compared with nin (besides the group): every field of the configuration
# but those that say which run it is (``RunConfig``'s identity fields)
SAME_CONFIG = same_config_fields()
RECIPE = [k for k in SAME_CONFIG if k != "fast"]  # what must match for a fast-path row to be set against --exact
SCALING = [k for k in SAME_CONFIG if k != "world_size"]  # what must match for a --ddp row to be set against 1 process
LAST_EPOCHS = 3  # the "last epochs" mean: the final epochs' test accuracies, averaged per seed


class GroupKey(NamedTuple):
    machine: str
    profile: str
    precision: str
    data: str

    @property
    def slug(self) -> str:
        """For file names: the group's fields, already slugs or plain words, joined."""
        return "-".join(self[:3]) + ("" if self.data == "real" else f"-{self.data}")


@dataclass(frozen=True)
class Group:
    key: GroupKey
    device_names: tuple[str, ...]  # the human-readable names its records give (one, unless the name format changed)
    torch_versions: tuple[str, ...]
    aliases: tuple[str, ...]  # schema-1 machine names shown under this machine (``one_name_per_machine``)
    runs: pd.DataFrame  # one row per record
    summary: pd.DataFrame  # one row per (architecture, configuration, batch used)
    ablations: list[dict]  # one per ablation trained beside nin under the same configuration: a result or a reason

    @property
    def has_ok(self) -> bool:
        return bool((self.runs.status == "ok").any())

    @property
    def accuracy_is_result(self) -> bool:
        """Whether this group's accuracies mean anything (real data, a profile long enough to converge): what its
        records say (``ReportFacts``); a group whose records do not say is judged by its data alone."""
        said = self.runs.accuracy_is_result.dropna()
        return bool(said.all()) if len(said) else self.key.data == "real"

    @property
    def against_d2l(self) -> bool:
        """Whether d2l's published (10-epoch) ranges are a verdict on this group's budget, as its records say."""
        said = self.runs.against_d2l.dropna()
        return self.accuracy_is_result and (bool(said.all()) if len(said) else True)

    @property
    def on_gpu(self) -> bool:
        return bool(self.runs.device.astype(str).str.startswith("cuda").all())

    @property
    def evidence(self) -> tuple:
        """Sort key, strongest first: accuracy that is a result, then the most learned seeds per row."""
        best = int(self.summary.n_learned.max()) if len(self.summary) else 0
        return (not self.accuracy_is_result, -best, self.key)


def group_key(record: RunRecord, aliases: dict[str, str] | None = None) -> GroupKey:
    machine = (aliases or {}).get(record.machine, record.machine)
    return GroupKey(machine, record.config.profile, record.config.precision, record.data.source)


LEGACY = "legacy-"  # upgrade_records.upgrade_v1's machine prefix: schema 1 did not record the processor's ISA


def _run_identity(r: RunRecord) -> tuple:
    """What two copies of one run share bit for bit: the entry, its seed and budget, and every epoch's numbers."""
    c = r.config
    return (r.arch, c.profile, c.precision, c.seed, tuple((e.train_loss, e.test_acc) for e in r.epochs))


def one_name_per_machine(records: list[RunRecord]) -> tuple[list[RunRecord], dict[str, str]]:
    """Each run once, each machine under one name.

    A schema-1 record (machine ``legacy-...``) that is bit for bit a run a fingerprinted machine also recorded (same
    entry, seed, budget and every epoch's loss and accuracy) is that run's copy: it is dropped, and its legacy
    machine is shown under the fingerprinted name (the alias), where every such copy points to one machine.
    Returns the records kept and the aliases (legacy name -> machine)."""
    fingerprinted = {_run_identity(r): r.machine for r in records if not r.machine.startswith(LEGACY) and r.epochs}
    links: dict[str, set[str]] = {}
    kept = []
    for r in records:
        twin = fingerprinted.get(_run_identity(r)) if r.machine.startswith(LEGACY) and r.epochs else None
        if twin is None:
            kept.append(r)
        else:
            links.setdefault(r.machine, set()).add(twin)
    aliases = {legacy: next(iter(twins)) for legacy, twins in links.items() if len(twins) == 1}
    dropped_unaliased = {legacy for legacy, twins in links.items() if len(twins) > 1}
    return kept, {**aliases, **{m: m for m in dropped_unaliased}}


def _last_epochs_mean(epochs) -> float | None:
    if len(epochs) < LAST_EPOCHS:
        return None
    return sum(e.test_acc for e in epochs[-LAST_EPOCHS:]) / LAST_EPOCHS


def frame(records: list[RunRecord]) -> pd.DataFrame:
    """One row per record, the fields the tables and plots need."""
    rows = []
    for r in records:
        c, final, ref = r.config, r.final, r.reference
        rows.append({
            "arch": r.arch, "run_id": r.run_id, "seed": c.seed, "status": r.status, "device": c.device, "recorded_machine": r.machine,
            "commit": (r.env.get("git") or {}).get("commit") or "",
            "diverged_epoch": r.diverged_epoch, "tags": tuple(r.tags), "epochs_log": r.epochs,
            "evals_log": r.evals,
            "device_name": r.env.get("device_name", "?"), "torch": r.env.get("torch", "?"),
            "batch_used": r.batch_size_used or c.batch_size, "oom_retried": bool(r.batch_size_used),
            **{k: getattr(c, k) for k in SAME_CONFIG},
            "params": r.params, "gflops": r.flops / 1e9 if r.flops is not None else None,
            "test_acc": final.test_acc if final else None, "train_acc": final.train_acc if final else None,
            "last_acc": _last_epochs_mean(r.epochs) if final else None,
            "learned": final is not None and stats.learned(final.test_acc),
            "train_eps": final.train_examples_per_sec if final else None,
            # time to train: the step clock, as time to accuracy; the warm-up (compilation, autotuning) beside it
            "train_seconds": final.train_seconds - (final.warmup_seconds or 0.0) if final else None,
            "warmup_seconds": final.warmup_seconds if final else None,
            "resumed_after": tuple(final.resumed_after_epochs) if final else (),
            "peak_mib": r.peak_memory_bytes / 2**20 if r.peak_memory_bytes else None,
            "reference": ref, "recipe_name": c.recipe.name, "world_size": c.world_size,
            "backend": r.data_parallel.backend if r.data_parallel else None,
            "rank0_eps": r.data_parallel.rank0_examples_per_sec if r.data_parallel else None,
            "tta": dict(final.time_to_accuracy) if final else {},
            "design_note": r.report.design_note if r.report else "",
            "class_map_side": r.report.class_map_side if r.report else None,
            "accuracy_is_result": r.report.accuracy_is_result if r.report else None,
            "against_d2l": r.report.against_d2l if r.report else None,
        })  # fmt: skip
    return pd.DataFrame(rows)


def failures_text(group: pd.DataFrame, count_stuck: bool = True) -> str:
    """The seeds that gave no accuracy, by what happened to them: failures by status, and (with ``count_stuck``)
    runs left at chance."""
    parts = []
    for status, rows in group[group.status != "ok"].groupby("status", sort=True):
        text = status
        if status == "diverged":
            epochs = sorted({int(e) for e in rows.diverged_epoch.dropna()})
            text += f" (epoch {', '.join(map(str, epochs))})" if epochs else ""
        parts.append(f"{len(rows)} {text}" if len(group) > 1 else text)
    stuck = group[(group.status == "ok") & ~group.learned]
    if count_stuck and len(stuck):
        parts.append(f"{len(stuck)} did not learn (≤ {stats.LEARNED_ABOVE:.2f})")
    return ", ".join(parts)


def _in_range(values: list[float], ref) -> str:
    if ref is None or ref.single_builds or not values:
        return ""
    inside = sum(ref.test_acc_low <= v <= ref.test_acc_high for v in values)
    return f"{inside} of {len(values)}"


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (architecture, configuration, batch actually used) over its seeds, failures named.

    A seed that an out-of-memory retry trained at a smaller batch is a row of its own, never averaged in. ``label``
    is the architecture's name, with the configuration id added where one architecture has several, and the
    retry said where there was one.
    """
    rows = []
    configs_per_arch = df.groupby("arch").run_id.nunique()
    df = df.assign(name=[
        a if configs_per_arch[a] == 1 else (a if r == "d2l" else f"{a} ({r})") + (f" (ddp x{n})" if n > 1 else "")
        for a, r, n in zip(df.arch, df.recipe_name, df.world_size)
    ])  # fmt: skip
    configs_per_name = df.groupby("name").run_id.nunique()
    for (arch, run_id, batch_used), g in df.groupby(["arch", "run_id", "batch_used"], sort=True):
        ok, first = g[g.status == "ok"], g.iloc[0]
        good = ok[ok.learned]
        # the configuration id is the one its records' file names carry (``RunConfig.file_name``)
        label = first["name"] if configs_per_name[first["name"]] == 1 else f"{first['name']} [{run_id}]"
        if first.oom_retried:
            label += f" (OOM retry: batch {int(batch_used)})"
        accs = list(good.test_acc)
        last = [v for v in good.last_acc if v is not None and pd.notna(v)]
        rows.append({
            "arch": arch, "run_id": run_id, "first": first, "label": label,
            "n_ok": len(ok), "n_learned": len(good), "failures": failures_text(g),
            "failed_runs": failures_text(g, count_stuck=False),
            "accs": accs, "ok_accs": sorted(ok.test_acc), "acc": stats.mean_ci(accs), "last_acc": stats.mean_ci(last),
            "test_acc": sum(accs) / len(accs) if accs else None,
            "train_acc": good.train_acc.mean() if len(good) else None,
            "eps_values": list(ok.train_eps.dropna()),
            "train_eps": ok.train_eps.mean() if len(ok) else None,
            "train_eps_std": ok.train_eps.std(ddof=1) if len(ok) > 1 else None,
            "train_seconds": ok.train_seconds.mean() if len(ok) else None,
            "warmup_seconds": ok.warmup_seconds.median() if len(ok) else None,
            "n_resumed": sum(bool(epochs) for epochs in ok.resumed_after),  # their warm-ups: each process's, summed
            "peak_mib": ok.peak_mib.max() if len(ok) else None,
            "ok_epochs": list(ok.epochs_log), "learned_epochs": list(good.epochs_log),
            "learned_evals": list(good.evals_log), "ok_evals": list(ok.evals_log),
            "in_range": _in_range(accs, first.reference),
            "design_note": next((n for n in g.design_note if n), ""),
            "class_map_side": next((int(v) for v in g.class_map_side if pd.notna(v)), None),
            "tta": {t: tta.across_seeds([d.get(tta.key(t)) for d in ok.tta]) for t in tta.TARGETS}
            if len(ok) and any(ok.tta) else {},
            "vs_exact": None,
            "rank0_eps": ok.rank0_eps.mean() if len(ok) and ok.rank0_eps.notna().any() else None,
            "commits": tuple(sorted({c for c in g.commit if c})),
        })  # fmt: skip
    return pd.DataFrame(rows)


def config_key(row, fields) -> tuple:
    return tuple(str(getattr(row.first, k)) for k in fields)


def ablation_results(summary: pd.DataFrame) -> list[dict]:
    """Each ablation against ``nin`` trained under the same configuration: Welch's test of the accuracies (and of
    the throughputs) where both arms have ``stats.MIN_SEEDS`` learned seeds and nin left chance; otherwise why not.

    An ablation tagged ``needs-spatial-map`` (GAP against a fully connected head) means something only where NiN's
    last class map is larger than 1x1; at a smaller input both heads see one value per class.
    """
    base = {config_key(s, SAME_CONFIG): s for s in summary.itertuples() if s.arch == "nin"}
    out = []
    for s in summary.itertuples():
        if "ablation" not in s.first.tags or config_key(s, SAME_CONFIG) not in base:
            continue
        b = base[config_key(s, SAME_CONFIG)]
        result = {"ablation": s, "nin": b, "accuracy": None, "throughput": None, "reason": ""}
        side = int(s.class_map_side) if "needs-spatial-map" in s.first.tags and pd.notna(s.class_map_side) else None
        if side is not None and side <= 1:
            result["reason"] = f"meaningless at {int(s.first.resolution)} px: NiN's last map is {side}x{side}"
        elif b.n_learned < stats.MIN_SEEDS or s.n_learned < stats.MIN_SEEDS:
            result["reason"] = (f"needs {stats.MIN_SEEDS} learned seeds in each arm (has {s.n_learned}, "
                                f"nin {b.n_learned})")  # fmt: skip
        else:
            result["accuracy"] = stats.welch(s.accs, b.accs)
        if len(s.eps_values) >= stats.MIN_SEEDS and len(b.eps_values) >= stats.MIN_SEEDS:
            result["throughput"] = stats.welch(s.eps_values, b.eps_values)
        out.append(result)
    return out


def scaling_rows(summary: pd.DataFrame) -> list[dict]:
    """Each data-parallel row against the 1-process row of the same configuration on the same machine:
    scaling efficiency = aggregate examples/s over (world size x 1-process examples/s)."""
    single = {config_key(s, SCALING): s for s in summary.itertuples() if s.first.world_size == 1}
    out = []
    for s in summary.itertuples():
        if s.first.world_size > 1:
            one = single.get(config_key(s, SCALING))
            base = one.train_eps if one is not None else None
            out.append({"row": s, "single_eps": base,
                        "efficiency": s.train_eps / (s.first.world_size * base) if base and s.train_eps else None})  # fmt: skip
    return out


def _set_vs_exact(summaries: dict[GroupKey, pd.DataFrame]) -> None:
    """Each fast-path row's throughput over the ``--exact`` row of the same machine, profile and recipe."""
    from benchmarks.schema.compute import EXACT

    exact = {}
    for key, summary in summaries.items():
        for s in summary.itertuples():
            if s.first.fast == EXACT and s.train_eps:
                exact[(key.machine, key.profile, key.data, s.arch, config_key(s, RECIPE))] = s.train_eps
    for key, summary in summaries.items():
        if len(summary):
            summary["vs_exact"] = [
                s.train_eps / exact[k] if s.first.fast != EXACT and s.train_eps and
                (k := (key.machine, key.profile, key.data, s.arch, config_key(s, RECIPE))) in exact else None
                for s in summary.itertuples()
            ]  # fmt: skip


def groups(records: list[RunRecord]) -> list[Group]:
    """Every group of the records, each summarised once, the strongest evidence first."""
    records, aliases = one_name_per_machine(records)
    by_key: dict[GroupKey, list[RunRecord]] = {}
    for r in records:
        by_key.setdefault(group_key(r, aliases), []).append(r)
    frames, summaries = {}, {}
    for key, members in by_key.items():
        frames[key] = frame(sorted(members, key=lambda r: (r.arch, r.run_id, r.config.seed)))
        summaries[key] = summarize(frames[key])
    _set_vs_exact(summaries)
    out = [
        Group(key, tuple(sorted(set(frames[key].device_name))), tuple(sorted(set(frames[key].torch))),
              tuple(sorted(legacy for legacy, m in aliases.items() if m == key.machine and legacy != m and
                           any(r.machine == legacy for r in by_key[key]))),
              frames[key], summaries[key], ablation_results(summaries[key]))
        for key in by_key
    ]  # fmt: skip
    return sorted(out, key=lambda g: g.evidence)


def device_aliases(groups: list[Group]) -> dict[str, str]:
    """Device name -> machine, for the names schema-1 records (and the benchmark files saved beside them, keyed by
    device name) give a machine that ``one_name_per_machine`` tied to a fingerprinted one."""
    out = {}
    for g in groups:
        legacy = g.runs[g.runs.recorded_machine.isin(g.aliases)]
        out.update({name: g.key.machine for name in sorted(set(legacy.device_name))})
    return out


DEFAULT_PROFILE = {True: "full", False: "cpu"}  # the profile `nox -s bench` runs on a GPU / on a CPU


def headline(groups: list[Group]) -> tuple[Group, list] | None:
    """The strongest evidence for the README's one table: a group whose accuracy is a result, a GPU's before a CPU's,
    the default profile of its device before another, then the most entries with a learned seed, then the most
    learned seeds; in it one row per architecture (its configuration with the most learned seeds), by accuracy,
    best first. None when no group's accuracy is a result."""
    candidates = [g for g in groups if g.accuracy_is_result and (g.summary.n_learned > 0).any()]
    if not candidates:
        return None

    def strength(g: Group) -> tuple:
        learned = g.summary[g.summary.n_learned > 0]
        return (not g.on_gpu, g.key.profile != DEFAULT_PROFILE[g.on_gpu], -learned.arch.nunique(),
                -int(learned.n_learned.min()), g.key)  # fmt: skip

    best = min(candidates, key=strength)
    rows = {}
    for s in best.summary.itertuples():
        if s.n_learned and (s.arch not in rows or (s.n_learned, s.n_ok) > (rows[s.arch].n_learned, rows[s.arch].n_ok)):
            rows[s.arch] = s
    chosen = sorted(rows.values(), key=lambda s: (-s.test_acc, s.arch))
    if len({s.first.recipe_name for s in chosen}) == 1:  # the text under the table names it: no row repeats it
        chosen = [s._replace(label=headline_label(s)) for s in chosen]
    return best, chosen


def headline_label(s) -> str:
    """A headline row's name where every row has one recipe: the entry (one row each, so no configuration id),
    with what still sets it apart from the recipe's other runs (data parallel, an out-of-memory retry)."""
    world = int(s.first.world_size)
    return (
        s.arch
        + (f" (ddp x{world})" if world > 1 else "")
        + (f" (OOM retry: batch {int(s.first.batch_used)})" if s.first.oom_retried else "")
    )
