"""The leaderboard's columns as data: each column declared once, with its header, how its cell is computed from a
summarised row, whether it is a number (right-aligned), and its one-line definition; each table a list of them,
with the paragraph that tells how to read it. ``leaderboard`` renders the markdown tables and the "how to read"
list from these alone; ``export`` declares the CSV/JSON columns the same way (``ExportColumn``).

A new column is one entry below and its name in a table's list: nothing else changes.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from benchmarks.report import findings, stats
from benchmarks.report import summary as summary_io
from benchmarks.schema import tta
from benchmarks.schema.config import SPLITS
from benchmarks.schema.peaks import TRAIN_PASSES, training_mfu
from benchmarks.schema.recipe import peak_lrs


def fmt(value, spec: str, suffix: str = "") -> str:
    """A number in a fixed format, or "" where there is none (pandas holds a missing value as NaN)."""
    return "" if value is None or pd.isna(value) else f"{value:{spec}}{suffix}"


class Notes:
    """Footnotes of one section: each distinct text gets a mark once (¹, ², ...), the table cells carry the mark,
    the texts follow the table. Long qualifications live here, so that no row runs wide."""

    MARKS = "¹²³⁴⁵⁶⁷⁸⁹"

    def __init__(self) -> None:
        self.texts: list[str] = []

    def mark(self, text: str) -> str:
        if not text:
            return ""
        if text not in self.texts:
            self.texts.append(text)
        i = self.texts.index(text)
        return self.MARKS[i] if i < len(self.MARKS) else f"[{i + 1}]"

    def cell(self, value: str, note: str) -> str:
        mark = self.mark(note)
        return f"{value} {mark}" if mark else value

    def lines(self) -> list[str]:
        if not self.texts:
            return []
        return [*(f"- {self.mark(t)} {t}" for t in self.texts), ""]


@dataclass
class Context:
    """What a cell may need beyond its row: the section's footnotes, its group, the headline's ranks."""

    notes: Notes
    group: object = None  # summary_io.Group
    rank_of: dict = field(default_factory=dict)  # id(row) -> its rank (``ranked_rows``)


@dataclass(frozen=True)
class Column:
    header: str | Callable[[object, Context], str]  # as the table shows it (a function where the row decides it)
    cell: Callable[[object, Context], str]  # the cell's text from the table's row
    definition: str  # one line: what it holds
    numeric: bool = False  # right-aligned

    def title(self, row, ctx: Context) -> str:
        return self.header(row, ctx) if callable(self.header) else self.header


def _architecture(s, ctx: Context) -> str:
    return ctx.notes.cell(s.label, s.design_note)


def optimizer_text(f, lr: str = " ") -> str:
    """The optimizer and its peak lr; Muon's two (``schema.recipe.peak_lrs``)."""
    return " + ".join(f"{name}{lr}{value:g}" for name, value, _ in peak_lrs(f.optimizer, f.lr, f.recipe))


def recipe_text(f) -> str:
    subset = f" of {int(f.train_subset):,}" if pd.notna(f.train_subset) else ""
    return f"{f.recipe_name}, {int(f.epochs)} ep{subset}, bs {int(f.batch_used)}, {optimizer_text(f)}"


def images_text(f) -> str:
    images = int(f.train_subset) if pd.notna(f.train_subset) else SPLITS["train"]
    return f"{images:,}" if int(f.epochs) == 1 else f"{int(f.epochs)} x {images:,}"


def time_to(s, target: float) -> str:
    if not s.tta:
        return ""
    median, _, missed = s.tta[target]
    reached = s.n_ok - missed
    return (fmt(median, ",.0f", " s") or "not reached") + f" ({reached} of {s.n_ok})"


def _not_counted(s) -> str:
    return f"not counted: {s.failures}" if s.failures else ""


def resumed_note(s) -> str:
    """Where seeds were stopped and resumed from a saved epoch: their warm-up ran once a process, and is summed."""
    if not s.n_resumed:
        return ""
    return (f"{s.n_resumed} of {s.n_ok} seeds stopped and resumed from a saved epoch in a new process: the warm-up "
            "of such a seed is its processes' summed; its step clock and accuracy are as unstopped")  # fmt: skip


def acc_or_why(s) -> str:
    return (s.acc.text() if s.acc else "") or s.failures or "no learned seed"


def published_text(ref) -> str:
    if ref.single_builds and ref.builds == 1:
        return f"{ref.test_acc_low:.3f} (one build)"
    if ref.single_builds:
        return f"{ref.test_acc_low:.3f} and {ref.test_acc_high:.3f} (single builds)"
    text = f"{ref.test_acc_low:.3f}–{ref.test_acc_high:.3f} ({ref.builds or '?'} converged builds)"
    if ref.not_converged:
        text += f"; {', '.join(f'{v:.3f}' for v in ref.not_converged)} did not converge"
    return text


def verdict(acc, ref) -> str:
    if acc is None or pd.isna(acc):  # pandas turns a missing mean into NaN, which compares false with anything
        return "no learned seed"
    low, high = ref.test_acc_low, ref.test_acc_high
    if ref.single_builds and ref.builds == 1:
        return "above it" if acc > high else ("below it" if acc < low else "equal")
    if ref.single_builds:
        return "above both" if acc > high else ("below both" if acc < low else "between them")
    return "within" if low <= acc <= high else ("**below**" if acc < low else "above")


def _difference(d, scale: float, unit: str, digits: str) -> str:
    return f"{d.difference * scale:+{digits}}{unit} [{d.low * scale:+{digits}}, {d.high * scale:+{digits}}]"


def _memory_header(row, ctx: Context) -> str:
    return "peak CUDA memory" if ctx.group.on_gpu else "peak RSS"


def mfu(f, examples_per_sec) -> float | None:
    """Training MFU of a configuration's run(s) at that rate (``schema.peaks``); None on a CPU."""
    gflops = f.gflops if pd.notna(f.gflops) else None
    return training_mfu(gflops and gflops * 1e9, examples_per_sec, f.device_name, f.fast.precision, f.fast.tf32)


MFU_TEXT = (f"{TRAIN_PASSES} x forward FLOPs x training examples/s over the GPU's vendor dense peak at the run's "
            "precision (`schema/peaks.py`); none on a CPU")  # fmt: skip

GFLOPS_NOTE = ("GFLOPs: forward FLOPs of one image at the input size trained (torch.utils.flop_counter; a multiply-add "
               "counts 2), so one network has other GFLOPs at another size.")  # fmt: skip

# --- the columns of the tables whose row is one summarised configuration (``summary.summarize``) ----------------

C = Column
SUMMARY_COLUMNS = {
    "rank": C("rank", lambda s, c: c.rank_of[id(s)], "1 + the entries significantly more accurate; '=' a tie"),
    "architecture": C("architecture", _architecture, "the entry, with its configuration id where one entry has "
                      "several; a mark points to a note on its input"),
    "params": C("params", lambda s, c: fmt(s.first.params, ",.0f"), "the network's parameters", True),
    "gflops": C("GFLOPs", lambda s, c: fmt(s.first.gflops, ".3f"), GFLOPS_NOTE, True),
    "input": C("input", lambda s, c: f"{int(s.first.resolution)} px", "the input side in pixels", True),
    "trained on": C("trained on", lambda s, c: images_text(s.first), "the training images seen (epochs x images)"),
    "recipe": C("recipe", lambda s, c: recipe_text(s.first), "the recipe, epochs, images, batch, optimizer and lr"),
    "test acc": C("test acc (95% CI)", lambda s, c: s.acc.text() if s.acc else "",
                  "mean test accuracy over the seeds that learned, ± its 95% Student-t half width"),
    "test acc n": C("test acc (95% CI, n)", lambda s, c: c.notes.cell(s.acc.text() if s.acc else "", _not_counted(s)),
                    "mean test accuracy over the seeds that learned, ± its 95% Student-t half width (n seeds)"),
    "last 3 epochs": C("last 3 epochs", lambda s, c: s.last_acc.text() if s.last_acc else "",
                       f"the mean of each seed's last {summary_io.LAST_EPOCHS} epochs' test accuracy"),
    "train acc": C("train acc", lambda s, c: fmt(s.train_acc, ".3f"), "training accuracy over the last epoch", True),
    "not counted": C("not counted", lambda s, c: s.failures, "the seeds not averaged in, and why"),
    "train examples/s": C("train examples/s", lambda s, c: fmt(s.train_eps, ",.0f"),
                          "training examples per second over the timed steps", True),
    "mfu": C("MFU", lambda s, c: fmt(mfu(s.first, s.train_eps), ".1%"), f"model FLOPs utilisation: {MFU_TEXT}", True),
    "vs --exact": C("vs --exact", lambda s, c: fmt(s.vs_exact, ".2f", "x"),
                    "throughput against d2l's exact path, same machine and recipe", True),
    "time to train": C("time to train", lambda s, c: fmt(s.train_seconds, ".1f", " s"),
                       "seconds of training steps, warm-up and evaluation excluded", True),
    "time to train, whole": C("time to train", lambda s, c: fmt(s.train_seconds, ",.0f", " s"),
                              "seconds of training steps, warm-up and evaluation excluded", True),
    "warm-up": C("warm-up", lambda s, c: c.notes.cell(fmt(s.warmup_seconds, ".1f", " s"), resumed_note(s)),
                 "the warm-up's seconds (compilation, autotuning), the median over seeds", True),
    "peak memory": C(_memory_header, lambda s, c: fmt(s.peak_mib, ",.0f", " MiB"),
                     "peak RSS on a CPU, peak CUDA memory on a GPU", True),
    "time to 0.85": C("time to 0.85", lambda s, c: time_to(s, 0.85),
                      "the median step-clock seconds to 0.85 over the ok seeds (how many reached it)", True),
    "ok runs": C("ok runs", lambda s, c: str(s.n_ok), "runs that finished", True),
    "failed": C("failed", lambda s, c: s.failed_runs, "the runs that failed, by what happened"),
    "ours": C("ours (95% CI)", lambda s, c: s.acc.text() if s.acc else "", "our mean over the seeds that learned"),
    "d2l published": C("d2l published test acc", lambda s, c: published_text(s.first.reference),
                       "d2l's converged builds' range, or its single builds"),
    "verdict": C("verdict (mean)", lambda s, c: verdict(s.test_acc, s.first.reference),
                 "where our mean lies against d2l's"),
    "seeds inside": C("seeds inside", lambda s, c: s.in_range, "our seeds inside d2l's range"),
    "d2l examples/s": C("d2l examples/s (context)", lambda s, c: c.notes.cell(
        f"{s.first.reference.examples_per_sec_low:,.0f}–{s.first.reference.examples_per_sec_high:,.0f}",
        f"on {s.first.reference.device or 'their build machine'}"), "d2l's throughput, on its own machine"),
}  # fmt: skip

# --- the tables of other rows: (d2l's row, the fast recipe's), (row, target, times), scaling and ablation dicts ----

RECIPE_COLUMNS = {
    "architecture": C("architecture", lambda p, c: c.notes.cell(p[0].arch, p[0].design_note), "the entry"),
    "budget": C("budget", lambda p, c: f"{int(p[1].first.epochs)} ep of "
                f"{int(p[1].first.train_subset) if pd.notna(p[1].first.train_subset) else SPLITS['train']:,}, "
                f"{int(p[1].first.resolution)} px", "epochs, images and input side, the same for both"),
    "d2l recipe": C("d2l recipe", lambda p, c: acc_or_why(p[0]), "test accuracy under d2l's recipe"),
    "other recipe": C(lambda p, c: f"{p[1].first.recipe_name} recipe", lambda p, c: acc_or_why(p[1]),
                      "test accuracy under the other recipe"),
    "d2l time": C("d2l time", lambda p, c: fmt(p[0].train_seconds, ".1f", " s"), "its time to train"),
    "other time": C(lambda p, c: f"{p[1].first.recipe_name} time", lambda p, c: fmt(p[1].train_seconds, ".1f", " s"),
                    "the other recipe's time to train"),
}  # fmt: skip


def _olympic(row, ctx) -> str:
    s, _, (_, olympic, _) = row
    return fmt(olympic, ",.1f", " s") or (
        "not reached" if s.n_ok >= tta.OLYMPIC_MIN else f"needs {tta.OLYMPIC_MIN} runs"
    )


TTA_COLUMNS = {
    "architecture": C("architecture", lambda r, c: _architecture(r[0], c), "the entry"),
    "target": C("target", lambda r, c: f"{r[1]:.2f}", "the test accuracy to reach", True),
    "median": C("median", lambda r, c: fmt(r[2][0], ",.1f", " s") or "not reached",
                "the median step-clock seconds to it", True),
    "olympic mean": C("olympic mean", _olympic, "the mean without the fastest and slowest run", True),
    "n": C("n", lambda r, c: str(r[0].n_ok), "ok runs", True),
    "not reached": C("not reached", lambda r, c: str(r[2][2]), "ok runs that never reached it", True),
}  # fmt: skip

SCALING_COLUMNS = {
    "architecture": C("architecture", lambda r, c: _architecture(r["row"], c), "the entry"),
    "ranks": C("ranks", lambda r, c: str(int(r["row"].first.world_size)), "the ranks that trained one run", True),
    "backend": C("backend", lambda r, c: r["row"].first.backend or "", "gloo (CPU) or nccl (CUDA)"),
    "global batch": C("global batch", lambda r, c: str(int(r["row"].first.batch_used)), "the batch of all ranks", True),
    "per-rank batch": C("per-rank batch", lambda r, c: str(int(r["row"].first.batch_used) //
                        int(r["row"].first.world_size)), "each rank's share", True),
    "aggregate examples/s": C("aggregate examples/s", lambda r, c: fmt(r["row"].train_eps, ",.0f"),
                              "every rank's examples over the slowest rank's seconds", True),
    "rank 0 examples/s": C("rank 0 examples/s", lambda r, c: fmt(r["row"].rank0_eps, ",.0f"),
                           "rank 0's own rate", True),
    "1 process examples/s": C("1 process examples/s", lambda r, c: fmt(r["single_eps"], ",.0f") or "no 1-process run",
                              "the same configuration in one process", True),
    "scaling efficiency": C("scaling efficiency", lambda r, c: fmt(r["efficiency"], ".0%"),
                            "aggregate over ranks x one process", True),
}  # fmt: skip


def _delta_params(r, ctx) -> str:
    s, b = r["ablation"], r["nin"]
    return fmt(s.first.params - b.first.params if s.first.params and b.first.params else None, "+,.0f")


def _acc_verdict(r, ctx) -> str:
    acc = r["accuracy"]
    if acc:
        return "**significant**" if acc.significant else "not significant"
    return ctx.notes.cell("no result", r["reason"])


def _speed_verdict(r, ctx) -> str:
    speed = r["throughput"]
    if speed:
        return "**significant**" if speed.significant else "not significant"
    return ctx.notes.cell("no result", f"needs {stats.MIN_SEEDS} ok seeds in each arm")


ABLATION_COLUMNS = {
    "ablation": C("ablation", lambda r, c: _architecture(r["ablation"], c), "the NiN ablation"),
    "Δ params": C("Δ params", _delta_params, "its parameters minus nin's", True),
    "Δ test acc": C("Δ test acc (95% CI)", lambda r, c: _difference(r["accuracy"], 100, " pp", ".1f")
                    if r["accuracy"] else "", "its mean test accuracy minus nin's, with Welch's 95% interval", True),
    "p": C("p (Welch)", lambda r, c: f"{r['accuracy'].p_value:.3f}" if r["accuracy"] else "",
           "Welch's two-sided p-value", True),
    "accuracy verdict": C("accuracy verdict", _acc_verdict, "significant below p = 0.05"),
    "Δ throughput": C("Δ throughput (95% CI)", lambda r, c: _difference(r["throughput"], 100 / r["nin"].train_eps,
                      "%", ".0f") if r["throughput"] else "", "its throughput against nin's, in percent", True),
    "throughput verdict": C("throughput verdict", _speed_verdict, "significant below p = 0.05"),
}  # fmt: skip


@dataclass(frozen=True)
class Table:
    columns: dict[str, Column]  # the columns its rows can have
    shown: tuple[str, ...]  # the ones it shows, in order
    name: str = ""  # as "how to read the tables" names it
    reading: str = ""  # how to read it, after its name in that list (no reading: not in the list)

    def markdown(self, rows, ctx: Context) -> str:
        """Numbers right-aligned, text left-aligned, every cell printed as formatted here (no re-parsing); a
        column empty in every row is left out."""
        cols = [self.columns[name] for name in self.shown]
        numeric = {c.title(row, ctx) for row in rows for c in cols if c.numeric}
        table = pd.DataFrame([{c.title(row, ctx): c.cell(row, ctx) for c in cols} for row in rows])
        table = table[[c for c in table.columns if (table[c].astype(str) != "").any()]]
        align = ["right" if column in numeric else "left" for column in table.columns]
        return table.to_markdown(index=False, disable_numparse=True, colalign=align)


COST = ("architecture", "params", "gflops", "train examples/s", "mfu", "vs --exact", "time to train", "warm-up",
        "peak memory")  # fmt: skip
TABLES = {  # in the order "how to read the tables" reads them
    "headline": Table(SUMMARY_COLUMNS, ("rank", "architecture", "params", "gflops", "input", "trained on", "test acc n",
                                        "train examples/s", "time to train, whole", "time to 0.85")),
    "results": Table(SUMMARY_COLUMNS, ("architecture", "recipe", "input", "test acc", "last 3 epochs", "train acc",
                                       "not counted"), "Results",
                     ": test accuracy after the last epoch, mean ± the half width of its 95% confidence interval "
                     f"(Student t over seeds); the mean of each seed's last {summary_io.LAST_EPOCHS} epochs beside it. "
                     f"A seed at or below {stats.LEARNED_ABOVE:.2f} (chance is {stats.CHANCE:.2f}) did not learn: it "
                     "is counted apart, never averaged in. A group whose profile is too short to converge (`smoke`) or "
                     "whose data is synthetic is a **check**: what ran and how fast, no accuracy."),
    "cost": Table(SUMMARY_COLUMNS, COST, "Cost",
                  ": train examples/s over every training step after a warm-up that runs each batch shape and mode "
                  "once (compilation and autotuning happen there; schema-1 records' warm-up was their first step); "
                  "time to train is the training steps' seconds, the warm-up's (the median over seeds) beside it; the "
                  "evaluation is timed apart; vs --exact is against d2l's exact path on the same machine, same "
                  "recipe. MFU (a GPU): " + MFU_TEXT + ". Peak RSS (a CPU): the run's process's resident "
                  "high-water mark, the interpreter, torch and the data included, not the model's tensors; peak CUDA "
                  "memory: the allocator's high-water mark. " + GFLOPS_NOTE),
    "tta": Table(TTA_COLUMNS, tuple(TTA_COLUMNS), "Time to accuracy",
                 ": seconds of training steps (the step clock: evaluations and the warm-up, with any compilation, off "
                 "it; records from before the step clock count their warm-up, on these CPUs 0-10 s) until the test "
                 "accuracy first reached the target; the olympic mean drops the fastest and slowest run and needs "
                 f"{tta.OLYMPIC_MIN}; a run that never reached it counts as not reached. Configurations none of whose "
                 "runs reached 0.85 are left out. The evaluation log is in each record (`evals`)."),
    "d2l": Table(SUMMARY_COLUMNS, ("architecture", "ours", "d2l published", "verdict", "seeds inside",
                                   "d2l examples/s"), "Against d2l",
                 ": our mean over learned seeds against the range of d2l's converged builds (or between its single "
                 "builds), for budgets that are d2l's; d2l's throughput is context from other hardware, not a ratio."),
    "ablations": Table(ABLATION_COLUMNS, tuple(ABLATION_COLUMNS), "Ablations of NiN",
                       ": each against `nin` under the same configuration, with at least "
                       f"{stats.MIN_SEEDS} learned seeds per arm; the difference of the means with its 95% CI, and "
                       "Welch's t-test (significant below p = 0.05)."),
    "scaling": Table(SCALING_COLUMNS, tuple(SCALING_COLUMNS), "Data-parallel scaling",
                     " (--ddp under torchrun): aggregate examples/s (every rank's examples over the slowest rank's "
                     "seconds) against the same configuration in one process on the same machine."),
    "check": Table(SUMMARY_COLUMNS, ("architecture", "recipe", "input", "ok runs", "failed", *COST[1:])),
    "recipes": Table(RECIPE_COLUMNS, tuple(RECIPE_COLUMNS)),
}  # fmt: skip


def ranked_rows(rows: list, ctx: Context) -> list:
    """The headline's rows in rank order, their ranks kept in ``ctx`` for the rank column."""
    ordered = findings.ranked(rows)
    ctx.rank_of.update({id(s): rank for rank, s in ordered})
    return [s for _, s in ordered]


# --- the export's columns (``leaderboard --format csv|json --table ...``): name, definition, value -----------------


@dataclass(frozen=True)
class ExportColumn:
    definition: str  # one line: what it holds (``leaderboard --columns``)
    value: Callable  # the value from the table's row (``Row``): a plain number or text, None where there is none
    count: bool = False  # an integer that may be missing in some rows (kept an integer in the CSV)


@dataclass(frozen=True)
class Row:
    """One row of an export table: its group, and the summarised configuration, the run or the ablation."""

    g: object  # summary_io.Group
    s: object = None  # the summary row (a configuration)
    r: object = None  # the run (a row of ``summary.frame``)
    a: dict | None = None  # the ablation (``summary.ablation_results``)

    @property
    def result(self) -> bool:
        return self.g.accuracy_is_result

    @property
    def f(self):
        """The configuration's fields: the run's own, or the configuration's first run's."""
        return self.r if self.r is not None else self.s.first


def _count(v):
    v = v.item() if hasattr(v, "item") else v
    return None if v is None or (isinstance(v, float) and pd.isna(v)) else int(v)


X = ExportColumn
TTA_KEYS = [tta.key(t).replace(".", "_") for t in tta.TARGETS]  # 0_85, 0_9, 0_92: a column name without a dot
WHERE = {
    "machine": X("the machine's slug: its folder under results/runs", lambda x: x.g.key.machine),
    "device_name": X("the device as torch names it (the CPU's model, ISA and threads)",
                     lambda x: ", ".join(x.g.device_names)),
    "profile": X("the profile the runs trained under (full, cpu, smoke)", lambda x: x.g.key.profile),
    "precision": X("fp32, bf16 or fp16: the compute path's precision", lambda x: x.g.key.precision),
    "data": X("real (Fashion-MNIST) or synthetic (throughput only)", lambda x: x.g.key.data),
}  # fmt: skip
NAMED = {
    "label": X("the entry as the tables name it (with its configuration id where one entry has several)",
               lambda x: x.s.label),
    "arch": X("the registry entry", lambda x: x.f.arch),
    "config_id": X("the configuration's id, shared by its seeds, as the records' file names carry it",
                   lambda x: x.f.run_id),
}  # fmt: skip
CONFIGURATION = {
    "recipe": X("d2l or fast, with any --recipe-set parts in brackets", lambda x: x.f.recipe_name),
    "epochs": X("passes over the training images", lambda x: int(x.f.epochs)),
    "train_subset": X("training images per epoch (empty: all 60,000)", lambda x: _count(x.f.train_subset), True),
    "batch_size": X("the batch the run trained at (after any out-of-memory retry)", lambda x: int(x.f.batch_used)),
    "optimizer": X("sgd, adamw or muon", lambda x: x.f.optimizer),
    "lr": X("the (peak) learning rate", lambda x: float(x.f.lr)),
    "resolution": X("the input side in pixels", lambda x: int(x.f.resolution)),
    "params": X("the network's parameters", lambda x: _count(x.f.params), True),
    "gflops": X("forward GFLOPs of one image at that input side (torch.utils.flop_counter; a multiply-add is 2)",
                lambda x: x.f.gflops),
}  # fmt: skip


def _accs(x) -> list[float]:
    return list(x.s.accs) if x.result else []


def _tta_config(target: float, part: int):
    def value(x):
        if not (x.s.tta and x.result):
            return None
        median, _, missed = x.s.tta.get(target, (None, None, 0))
        return median if part == 0 else int(x.s.n_ok) - missed

    return value


RUN_COLUMNS = {
    **WHERE, **NAMED, **CONFIGURATION,
    "seed": X("the run's seed (initialisation and order; every seed trains on the same images)", lambda x: int(x.r.seed)),
    "status": X("ok, diverged, oom, error, crashed or timeout", lambda x: x.r.status),
    "counted": X("whether the configuration's mean counts this run: ok, and its accuracy left chance",
                 lambda x: bool(x.r.status == "ok" and x.r.learned and x.result)),
    "test_acc": X("test accuracy after the last epoch (empty: the run did not finish, or its accuracy is no result)",
                  lambda x: x.r.test_acc if x.result else None),
    "train_acc": X("training accuracy over the last epoch", lambda x: x.r.train_acc if x.result else None),
    "train_examples_per_sec": X("training examples per second over the timed steps (the warm-up excluded)",
                                lambda x: x.r.train_eps),
    "train_mfu": X(f"training's model FLOPs utilisation, a fraction: {MFU_TEXT}", lambda x: mfu(x.r, x.r.train_eps)),
    "train_seconds": X("the step clock: seconds of training steps, warm-up and evaluation excluded",
                       lambda x: x.r.train_seconds),
    "warmup_seconds": X("the warm-up before the clock: each batch shape and mode once (compilation, autotuning)",
                        lambda x: x.r.warmup_seconds),
    "resumed_after_epochs": X("the epochs after which the run was stopped and went on in a new process from its "
                              "saved state, ';'-separated (empty: never)",
                              lambda x: ";".join(map(str, x.r.resumed_after)) or None),
    "peak_memory_mib": X("peak RSS on a CPU, peak CUDA memory on a GPU, in MiB", lambda x: x.r.peak_mib),
    **{f"time_to_{k}_s": X(f"step-clock seconds until the test accuracy first reached {t:.2f} (empty with status ok: "
                           "not reached)", lambda x, t=t: x.r.tta.get(tta.key(t)) if x.result else None)
       for k, t in zip(TTA_KEYS, tta.TARGETS)},
    "torch": X("the torch version that ran it", lambda x: x.r.torch),
    "commit": X("the git commit of the code that ran it", lambda x: x.r.commit),
}  # fmt: skip
CONFIG_COLUMNS = {
    **WHERE, **NAMED, **CONFIGURATION,
    "n_ok": X("runs that finished (status ok)", lambda x: int(x.s.n_ok)),
    "n_counted": X("runs the mean counts: ok, and left chance", lambda x: int(x.s.n_learned)),
    "not_counted": X("the runs not counted, and why", lambda x: x.s.failures),
    "test_acc_mean": X("mean test accuracy over the counted runs (empty: no counted run, or no result)",
                       lambda x: x.s.acc.mean if x.s.acc and x.result else None),
    "test_acc_sd": X("its sample standard deviation (empty below 2 counted runs)",
                     lambda x: statistics.stdev(_accs(x)) if len(_accs(x)) > 1 else None),
    "test_acc_ci95": X("the half width of the mean's 95% Student-t interval (empty below 2 counted runs)",
                       lambda x: x.s.acc.half_width if x.s.acc and x.result else None),
    "test_acc_seeds": X("each counted run's test accuracy, in seed order, ';'-separated",
                        lambda x: ";".join(f"{a:.4f}" for a in _accs(x))),
    "train_examples_per_sec": X("mean over the ok runs of their training examples per second", lambda x: x.s.train_eps),
    "train_mfu": X(f"the mean rate's model FLOPs utilisation, a fraction: {MFU_TEXT}",
                   lambda x: mfu(x.s.first, x.s.train_eps)),
    "train_seconds": X("mean over the ok runs of the step clock's seconds", lambda x: x.s.train_seconds),
    "warmup_seconds": X("median over the ok runs of the warm-up's seconds", lambda x: x.s.warmup_seconds),
    "peak_memory_mib": X("the largest peak memory of the ok runs, in MiB", lambda x: x.s.peak_mib),
    **{f"time_to_{k}_median_s": X(f"median over the ok runs of the seconds to {t:.2f} (empty: not reached by half "
                                  f"of them, or no result; time_to_{k}_reached says which)", _tta_config(t, 0))
       for k, t in zip(TTA_KEYS, tta.TARGETS)},
    **{f"time_to_{k}_reached": X(f"ok runs that reached {t:.2f}", _tta_config(t, 1), True)
       for k, t in zip(TTA_KEYS, tta.TARGETS)},
    "torch": X("the torch versions of the group", lambda x: ", ".join(x.g.torch_versions)),
    "commits": X("the commits of the code that ran the runs", lambda x: " ".join(x.s.commits)),
}  # fmt: skip


def _verdict_of(acc):
    if acc is None:
        return None
    return "not significant" if not acc.significant else "higher" if acc.difference > 0 else "lower"


def _of(key: str, attribute: str):
    def value(x):
        part = x.a[key]
        return getattr(part, attribute) if part else None

    return value


EXPORT_ABLATION_COLUMNS = {
    **WHERE,
    "ablation": X("the NiN ablation (its registry entry)", lambda x: x.a["ablation"].arch),
    "config_id": X("the ablation's configuration id", lambda x: x.a["ablation"].run_id),
    "nin_config_id": X("nin's configuration id under the same configuration", lambda x: x.a["nin"].run_id),
    "n_ablation": X("the ablation's counted runs", lambda x: int(x.a["ablation"].n_learned)),
    "n_nin": X("nin's counted runs", lambda x: int(x.a["nin"].n_learned)),
    "acc_difference": X("the ablation's mean test accuracy minus nin's", _of("accuracy", "difference")),
    "acc_ci95_low": X("the low end of Welch's 95% interval of that difference", _of("accuracy", "low")),
    "acc_ci95_high": X("its high end", _of("accuracy", "high")),
    "acc_p": X("Welch's two-sided p-value", _of("accuracy", "p_value")),
    "acc_verdict": X("higher, lower or not significant (p < 0.05); empty: no test (see reason)",
                     lambda x: _verdict_of(x.a["accuracy"])),
    "eps_difference": X("the ablation's mean training examples per second minus nin's",
                        _of("throughput", "difference")),
    "eps_p": X("Welch's p-value of that difference", _of("throughput", "p_value")),
    "reason": X("why there is no accuracy test (too few counted runs, a head that needs a spatial map)",
                lambda x: x.a["reason"] or None),
}  # fmt: skip


def run_rows(groups) -> list[Row]:
    out = []
    for g in groups:
        by_config = {(s.arch, s.run_id, s.first.batch_used): s for s in g.summary.itertuples()}
        for r in g.runs.sort_values(["arch", "run_id", "seed"]).itertuples():
            out.append(Row(g, s=by_config[(r.arch, r.run_id, r.batch_used)], r=r))
    return out


EXPORTS = {  # --table NAME: its columns, and its rows from the summarised groups
    "runs": (RUN_COLUMNS, run_rows),
    "configs": (CONFIG_COLUMNS, lambda groups: [Row(g, s=s) for g in groups for s in g.summary.itertuples()]),
    "ablations": (EXPORT_ABLATION_COLUMNS, lambda groups: [Row(g, a=a) for g in groups for a in g.ablations]),
}
