"""``python -m benchmarks plots``: pictures from the summarised records, with matplotlib and no display.

Per group (``benchmarks.report.summary``) whose accuracy is a result: (1) ``pareto``: test accuracy against
training examples/sec, each seed and the mean per entry, the throughput's std, the Pareto front; (2)
``params``: test accuracy against parameter count; (3) ``curves``: d2l-style learning curves from each record's
evaluation log, test accuracy against training seconds and against the share of the run's images seen, a line a
seed; (4)
``tta``: time to accuracy, the share of seeds that had reached each target by each training second; (5)
``ablations``: every NiN ablation against ``nin``, every seed a point, the tests' results written beside them.
Every accuracy axis stays inside [0, 1]: the scatter plots draw each seed and the mean, no interval to clip.
One configuration an entry is drawn (the one with the most seeds), named by the entry, its budget said where the
entries' budgets differ; no text overlaps another or leaves the frame (tested). Fixed styles, sorted inputs, no timestamps:
the same records give the same pictures.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.atomic import write_atomically  # noqa: E402
from benchmarks.report import stats  # noqa: E402
from benchmarks.report import summary as summary_io  # noqa: E402
from benchmarks.schema import tta  # noqa: E402

SIZE_IN, DPI = (10.0, 6.0), 100  # every picture 1000 x 600 pixels
_TAB20 = plt.get_cmap("tab20").colors
COLORS = _TAB20[0::2] + _TAB20[1::2]  # ten strong colours first, their light shades after
PNG_METADATA = {"Software": None}  # no version string: the bytes depend on the records alone
KINDS = ("pareto", "params", "curves", "tta", "ablations")


def plot_file(key: summary_io.GroupKey, kind: str) -> str:
    return f"plots/{key.slug}-{kind}.png"


def _budget(f) -> str:
    images = f"{int(f.train_subset):,}" if pd.notna(f.train_subset) and f.train_subset else "60,000"
    return f"{f.recipe_name}, {int(f.epochs)} x {images}"


def shown_rows(summary: pd.DataFrame) -> list:
    """One configuration an entry (the one with the most learned seeds, then ok ones): a plot of one budget rule,
    named by entry, never by configuration hash."""
    best = {}
    for s in summary.itertuples():
        if s.n_learned and (s.arch not in best or (s.n_learned, s.n_ok) > (best[s.arch].n_learned, best[s.arch].n_ok)):
            best[s.arch] = s
    return [best[a] for a in sorted(best)]


def names(rows: list) -> dict[str, str]:
    """Each shown row's name: the entry, with its recipe and budget where the rows' budgets differ in more than
    the entry (so that a mix of budgets is said, not hidden)."""
    budgets = {_budget(s.first) for s in rows}
    mixed = len(budgets) > 1 and len({s.first.recipe_name for s in rows}) > 1
    return {s.arch: f"{s.arch} ({_budget(s.first)})" if mixed else s.arch for s in rows}


def _points(summary: pd.DataFrame) -> pd.DataFrame:
    """One point per entry with learned seeds (``shown_rows``): mean accuracy, every learned seed's accuracy, mean
    throughput and its std, params, n; indexed by name."""
    rows = [s for s in shown_rows(summary) if pd.notna(s.train_eps)]
    named = names(rows)
    data = {named[s.arch]: {"acc": s.acc.mean, "seeds": list(s.accs), "eps": s.train_eps,
                            "eps_std": s.train_eps_std if pd.notna(s.train_eps_std) else 0.0,
                            "params": float(s.first.params), "n": s.n_learned} for s in rows}  # fmt: skip
    return pd.DataFrame.from_dict(data, orient="index", columns=["acc", "seeds", "eps", "eps_std", "params", "n"])


def pareto_front(points: pd.DataFrame) -> pd.DataFrame:
    """The architectures no other beats on both accuracy and throughput, by increasing throughput."""
    keep = [
        a for a, p in points.iterrows()
        if not ((points.acc >= p.acc) & (points.eps >= p.eps) & ((points.acc > p.acc) | (points.eps > p.eps))).any()
    ]  # fmt: skip
    return points.loc[keep].sort_values("eps")


def _subtitle(group: summary_io.Group) -> str:
    key = group.key
    return f"{key.machine} · profile {key.profile} · {key.precision}"


def _title(fig, group, what):
    """Title on the figure (not the axes): a long one is never cut off by a legend beside the axes."""
    fig.suptitle(f"{what}\n{_subtitle(group)}", fontsize=11)


def accuracy_limits(low: float, high: float, pad: float = 0.03) -> tuple[float, float]:
    """An accuracy axis around [low, high], never outside what accuracy can be."""
    return max(0.0, low - pad), min(1.0, high + pad)


def _accuracy_axis(ax, points: pd.DataFrame) -> None:
    if len(points):
        every = [a for seeds in points.seeds for a in seeds]
        ax.set_ylim(*accuracy_limits(min(every), max(every)))


MARKERS = "osD^vP*Xh<>p"


def _spread(values: pd.Series) -> np.ndarray:
    """Positions on a log axis, where entries of one value (NiN and NiN without dropout: the same parameters) are
    moved 3% apart, so that each is seen."""
    out, seen = values.to_numpy(float).copy(), {}
    for i, v in enumerate(values):
        k = seen.get(v, 0)
        out[i] = v * 1.03**k
        seen[v] = k + 1
    return out


def _scatter(group: summary_io.Group, x: str, xlabel: str, what: str):
    """Test accuracy against ``x`` (a column of ``_points``), an entry's seeds as small points and their mean as a
    large one (no interval to clip: every seed is inside [0, 1]), names in a legend beside the axes. None with fewer
    than two entries: a plot of one point says nothing."""
    points = _points(group.summary)
    if len(points) < 2:
        return None, None, points
    fig, ax = plt.subplots(figsize=SIZE_IN, dpi=DPI)
    xs = _spread(points[x])
    for i, ((name, p), xi) in enumerate(zip(points.iterrows(), xs)):
        color, marker = COLORS[i % len(COLORS)], MARKERS[i % len(MARKERS)]
        ax.scatter([xi] * len(p.seeds), p.seeds, s=16, color=color, marker=marker, alpha=0.5, linewidth=0, zorder=2)
        if x == "eps" and p.n > 1 and p.eps_std:
            ax.errorbar(xi, p.acc, xerr=p.eps_std, fmt="none", ecolor=color, capsize=3, zorder=2)
        ax.scatter([xi], [p.acc], s=70, color=color, marker=marker, edgecolor="black", linewidth=0.6, zorder=3,
                   label=f"{name} (n={int(p.n)})")  # fmt: skip
    ax.set_xscale("log")
    ax.margins(x=0.15)
    _accuracy_axis(ax, points)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy after the last epoch")
    ax.grid(True, which="both", alpha=0.3)
    _title(fig, group, what)
    return fig, ax, points


def _legend_beside(fig, ax) -> None:
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()


def accuracy_vs_throughput(group: summary_io.Group) -> plt.Figure | None:
    fig, ax, points = _scatter(group, "eps", "training throughput (examples/s, log scale)",
                               "Accuracy against training throughput (small: each seed; large: the mean; bars: "
                               "std of throughput)")  # fmt: skip
    if fig is None:
        return None
    front = pareto_front(points)
    if len(front) > 1:
        ax.plot(front.eps, front.acc, "--", color="0.3", linewidth=1, zorder=1, label="Pareto front")
    _legend_beside(fig, ax)
    return fig


def accuracy_vs_params(group: summary_io.Group) -> plt.Figure | None:
    fig, ax, _ = _scatter(group, "params", "parameters (log scale)",
                          "Accuracy against parameter count (small: each seed; large: the mean)")  # fmt: skip
    if fig is not None:
        _legend_beside(fig, ax)
    return fig


def _eval_curve(run_evals, run_epochs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(training seconds, examples seen, test accuracy) of one run: its evaluation log, or its epochs where a record
    from before the log has none."""
    if run_evals:
        return (np.array([e.train_seconds for e in run_evals]), np.array([e.examples for e in run_evals], float),
                np.array([e.test_acc for e in run_evals]))  # fmt: skip
    seconds = np.cumsum([e.timed_seconds for e in run_epochs])
    examples = np.cumsum([e.timed_examples for e in run_epochs]).astype(float)
    return seconds, examples, np.array([e.test_acc for e in run_epochs])


def learning_curves(group: summary_io.Group) -> plt.Figure:
    """Test accuracy against training seconds (left) and against the share of the run's training images seen
    (right: every entry's budget spans the panel, whatever its size), one line per learned seed, one colour per
    entry (``shown_rows``)."""
    fig, (time_ax, share_ax) = plt.subplots(1, 2, figsize=SIZE_IN, dpi=DPI, sharey=True)
    rows = shown_rows(group.summary)
    named = names(rows)
    for i, s in enumerate(rows):
        for k, (evals, epochs) in enumerate(zip(s.learned_evals, s.learned_epochs)):
            seconds, examples, acc = _eval_curve(evals, epochs)
            style = {"color": COLORS[i % len(COLORS)], "marker": "o", "markersize": 2.5, "linewidth": 1.2}
            time_ax.plot(seconds, acc, label=f"{named[s.arch]} (n={s.n_learned})" if k == 0 else None, **style)
            share_ax.plot(examples / examples[-1], acc, **style)
    time_ax.set_xlabel("training seconds (training steps; evaluation excluded)")
    share_ax.set_xlabel("share of the run's training images seen")
    share_ax.set_xlim(0.0, 1.02)
    time_ax.set_ylabel("test accuracy")
    time_ax.set_ylim(0.0, 1.0)
    for ax in (time_ax, share_ax):
        ax.grid(True, alpha=0.3)
    _title(fig, group, "Learning curves: every evaluation of every learned seed (one line per seed)")
    handles, labels = time_ax.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=min(4, max(1, len(labels))), frameon=False)
    fig.tight_layout(rect=(0, 0.04 + 0.035 * ((len(labels) + 3) // 4), 1, 1))
    return fig


def time_to_accuracy(group: summary_io.Group) -> plt.Figure | None:
    """For each target, the share of a configuration's ok seeds that had reached it by each training second (a
    step per seed); configurations none of whose seeds reached the first target are left out. None: nothing to draw."""
    rows = [s for s in shown_rows(group.summary) if any(tta.time_to(e, tta.TARGETS[0]) for e in s.ok_evals)]
    if not rows:
        return None
    named = names(rows)
    targets = [t for t in tta.TARGETS if any(tta.time_to(e, t) for s in rows for e in s.ok_evals)]
    fig, axes = plt.subplots(1, len(targets), figsize=SIZE_IN, dpi=DPI, sharey=True, squeeze=False)
    end = max(e[-1].train_seconds for s in rows for e in s.ok_evals if e)
    for ax, target in zip(axes[0], targets):
        for i, s in enumerate(rows):
            times = sorted(t for e in s.ok_evals if (t := tta.time_to(e, target)) is not None)
            share = np.arange(1, len(times) + 1) / s.n_ok
            ax.step([0.0, *times, end], [0.0, *share, share[-1] if len(share) else 0.0], where="post",
                    color=COLORS[i % len(COLORS)], label=f"{named[s.arch]} (n={s.n_ok})")  # fmt: skip
        ax.set_title(f"test accuracy ≥ {target:.2f}", fontsize=10)
        ax.set_xlabel("training seconds")
        ax.set_ylim(0.0, 1.05)
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("share of seeds that reached it")
    _title(fig, group, "Time to accuracy")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=min(4, len(labels)), frameon=False)
    fig.tight_layout(rect=(0, 0.04 + 0.035 * ((len(labels) + 3) // 4), 1, 1))
    return fig


def ablation_numbers(group: summary_io.Group) -> pd.DataFrame | None:
    """The ablations with an accuracy result (``summary.ablation_results``): Δ accuracy in points with its 95% CI,
    and Δ throughput in percent with its CI where there is one. None when no ablation has a result."""
    rows = {}
    for r in group.ablations:
        acc, speed, base = r["accuracy"], r["throughput"], r["nin"].train_eps
        if acc is None:
            continue
        rows[r["ablation"].label] = {
            "acc_pp": acc.difference * 100, "acc_low": acc.low * 100, "acc_high": acc.high * 100,
            "acc_significant": acc.significant,
            "speed_pct": speed.difference * 100 / base if speed else np.nan,
            "speed_low": speed.low * 100 / base if speed else np.nan,
            "speed_high": speed.high * 100 / base if speed else np.nan,
            "speed_significant": bool(speed and speed.significant),
        }  # fmt: skip
    return pd.DataFrame.from_dict(rows, orient="index") if rows else None


def nin_ablations(group: summary_io.Group) -> plt.Figure | None:
    """Left: every ok seed's test accuracy, nin's (grey circles) beside each ablation's (diamonds; blue where Welch's
    test finds a difference, crosses for seeds that did not learn), on [0, 1], with the test's result or the reason
    there is none. Right: the throughput difference with its 95% CI. Every ablation trained beside nin is drawn."""
    rows = group.ablations
    if not rows or ablation_numbers(group) is None:
        return None
    fig, axes = plt.subplots(1, 2, figsize=SIZE_IN, dpi=DPI, sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    y = np.arange(len(rows))
    ax = axes[0]
    for yi, r in zip(y, rows):
        acc, base, arm = r["accuracy"], r["nin"], r["ablation"]
        for accs, dy, marker, color, name in (
            (base.ok_accs, -0.15, "o", "0.55", "nin"),
            (arm.ok_accs, 0.15, "D", "tab:blue" if acc is not None and acc.significant else "0.2", "ablation"),
        ):  # fmt: skip
            learned = [a for a in accs if a > stats.LEARNED_ABOVE]
            stuck = [a for a in accs if a <= stats.LEARNED_ABOVE]
            ax.scatter(learned, [yi + dy] * len(learned), marker=marker, s=28, color=color,
                       label=name if yi == 0 else None)  # fmt: skip
            ax.scatter(stuck, [yi + dy] * len(stuck), marker="x", s=32, color="tab:red",
                       label="did not learn" if yi == 0 and name == "nin" else None)  # fmt: skip
        text = (
            f"{acc.difference * 100:+.1f} pp, p = {acc.p_value:.3f}" if acc is not None else f"no test: {r['reason']}"
        )
        ax.annotate(text, (0.02, yi + 0.42), fontsize=8, xycoords=("axes fraction", "data"))
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("test accuracy, one point per seed")
    ax.grid(True, axis="x", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    ax = axes[1]
    speeds = [r["throughput"] for r in rows]
    base_eps = [r["nin"].train_eps for r in rows]
    value = np.array([d.difference * 100 / b if d else np.nan for d, b in zip(speeds, base_eps)])
    low = np.array([d.low * 100 / b if d else np.nan for d, b in zip(speeds, base_eps)])
    high = np.array([d.high * 100 / b if d else np.nan for d, b in zip(speeds, base_eps)])
    significant = [bool(d and d.significant) for d in speeds]
    ax.barh(y, np.nan_to_num(value), color=["tab:blue" if sig else "0.6" for sig in significant], alpha=0.8)
    ax.errorbar(value, y, xerr=[value - low, high - value], fmt="none", ecolor="black", capsize=4)
    ax.axvline(0, color="black", linewidth=0.8)
    for yi, v, sig in zip(y, value, significant):
        if not np.isnan(v):
            ax.annotate(f"{v:+.0f}%{'' if sig else ' (n.s.)'}", (v, yi), xytext=(3, 8), textcoords="offset points",
                        va="center", fontsize=8)  # fmt: skip
    ax.set_xlabel("training throughput − nin's (%), 95% CI")
    ax.grid(True, axis="x", alpha=0.3)
    ax.margins(x=0.25)
    axes[0].set_yticks(y, [r["ablation"].label for r in rows])
    axes[0].set_ylim(len(rows) - 0.4, -0.6)  # first ablation on top, room for each row's note
    _title(fig, group, "NiN ablations against nin (blue: significant, Welch p < 0.05)")
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


RENDERERS = {"pareto": accuracy_vs_throughput, "params": accuracy_vs_params, "curves": learning_curves,
             "tta": time_to_accuracy, "ablations": nin_ablations}  # fmt: skip


def render_group(group: summary_io.Group, out_dir: Path) -> dict[str, Path]:
    """Every picture of one group, as kind -> file written; {} for a group with nothing to draw."""
    if not group.accuracy_is_result or not (group.summary.n_learned > 0).any():
        return {}  # no accuracy plot from runs whose accuracy is no result
    written = {}
    for kind in KINDS:
        fig = RENDERERS[kind](group)
        if fig is None:
            continue
        png = io.BytesIO()
        fig.savefig(png, format="png", metadata=PNG_METADATA)
        plt.close(fig)
        written[kind] = write_atomically(Path(out_dir) / plot_file(group.key, kind), png.getvalue())
    return written


def render_all(groups: list[summary_io.Group], out_dir: Path) -> dict[summary_io.GroupKey, dict[str, Path]]:
    """The pictures of every group: group key -> (kind -> file written)."""
    return {g.key: files for g in groups if (files := render_group(g, out_dir))}
