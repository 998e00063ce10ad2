"""``python -m benchmarks plots``: pictures from the summarised records, with matplotlib and no display.

Per group (``benchmarks.report.summary``) of real-data records with at least one ok run: (1) test accuracy against training examples/sec,
one point per architecture with seed error bars, the Pareto front, marker area by parameter count; (2) learning
curves, test accuracy and train loss per epoch, mean and min-max band over seeds; (3) the NiN ablations against
``nin``, every seed a point. Fixed styles, sorted inputs, no timestamps: the same records give the same pictures.
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
from benchmarks.report import summary as summary_io

SIZE_IN, DPI = (10.0, 6.0), 100  # every picture 1000 x 600 pixels
_TAB20 = plt.get_cmap("tab20").colors
COLORS = _TAB20[0::2] + _TAB20[1::2]  # ten strong colours first, their light shades after
PNG_METADATA = {"Software": None}  # no version string: the bytes depend on the records alone
KINDS = ("pareto", "curves", "ablations")


def plot_file(key: summary_io.GroupKey, kind: str) -> str:
    return f"plots/{key.slug}-{kind}.png"


def _points(summary: pd.DataFrame) -> pd.DataFrame:
    """One point per row with learned seeds: mean accuracy and its 95% CI half width, mean throughput and its std,
    params, n (learned seeds); by label. Runs that did not learn are not points."""
    columns = ["acc", "acc_ci", "eps", "eps_std", "params", "n"]
    rows = {
        s.label: (s.acc.mean, s.acc.half_width, s.train_eps, s.train_eps_std, int(s.first.params), s.n_learned)
        for s in summary.itertuples() if s.n_learned and pd.notna(s.train_eps)
    }  # fmt: skip
    points = pd.DataFrame.from_dict(rows, orient="index", columns=columns).astype(float)
    return points.fillna({"acc_ci": 0.0, "eps_std": 0.0})


def pareto_front(points: pd.DataFrame) -> pd.DataFrame:
    """The architectures no other beats on both accuracy and throughput, by increasing throughput."""
    keep = [
        a for a, p in points.iterrows()
        if not ((points.acc >= p.acc) & (points.eps >= p.eps) & ((points.acc > p.acc) | (points.eps > p.eps))).any()
    ]  # fmt: skip
    return points.loc[keep].sort_values("eps")


def _subtitle(group: summary_io.Group) -> str:
    key = group.key
    return f"{key.machine} ({', '.join(group.device_names)}) · profile {key.profile} · {key.precision}"


def _title(ax, group, what):
    ax.set_title(f"{what}\n{_subtitle(group)}", fontsize=11)


def _label_offsets(ax, points: pd.DataFrame) -> list[tuple[int, int]]:
    """Text offsets (points) that keep the names of nearby markers from printing over each other."""
    ax.figure.canvas.draw()  # fixes the data-to-pixel transform
    placed: list[tuple[float, float, float]] = []  # left, baseline, width of each label, in points
    offsets = []
    to_points = 72 / ax.figure.dpi
    for arch, p in points.iterrows():
        x, y = ax.transData.transform((p.eps, p.acc)) * to_points
        left, width = x + 8, 6.0 * len(arch)  # about 6 points a character at 9-point type

        def free(dy, left=left, width=width, y=y):
            return not any(left < pl + pw and pl < left + width and abs(y + dy - pb) < 11 for pl, pb, pw in placed)

        # above, then below, then further out
        candidates = (6 + 11 * (k // 2) * (1 if k % 2 == 0 else -1) - (16 if k % 2 else 0) for k in range(40))
        dy = next((c for c in candidates if free(c)), 6)
        placed.append((left, y + dy, width))
        offsets.append((8, dy))
    return offsets


def accuracy_vs_throughput(group: summary_io.Group) -> plt.Figure:
    points = _points(group.summary)
    fig, ax = plt.subplots(figsize=SIZE_IN, dpi=DPI)
    sizes = 30 + 400 * np.sqrt(points.params / points.params.max()) if len(points) else []
    for i, (arch, p) in enumerate(points.iterrows()):
        if p.n > 1:
            ax.errorbar(p.eps, p.acc, xerr=p.eps_std, yerr=p.acc_ci, fmt="none", ecolor="0.4", capsize=3, zorder=2)
        ax.scatter([p.eps], [p.acc], s=[sizes.iloc[i]], color=COLORS[i % len(COLORS)], alpha=0.8,
                   edgecolor="black", linewidth=0.6, zorder=3,
                   label=f"{arch} ({p.params / 1e6:.2f} M params, n={int(p.n)})")  # fmt: skip
    front = pareto_front(points) if len(points) else points
    if len(front) > 1:
        ax.plot(front.eps, front.acc, "--", color="0.3", linewidth=1, zorder=1, label="Pareto front")
    ax.set_xscale("log")
    ax.margins(x=0.12, y=0.12)
    ax.set_xlabel("training throughput (examples/sec, log scale)")
    ax.set_ylabel("test accuracy after the last epoch")
    ax.grid(True, which="both", alpha=0.3)
    _title(
        ax,
        group,
        "Accuracy against training throughput (marker area ~ parameter count; bars: 95% CI of accuracy, std of "
        "throughput)",
    )
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, markerscale=0.6)
    fig.tight_layout()  # before the names are placed: it moves the axes
    for (arch, p), offset in zip(points.iterrows(), _label_offsets(ax, points)):
        leader = {"arrowstyle": "-", "color": "0.5", "linewidth": 0.6} if offset[1] != 6 else None
        ax.annotate(arch, (p.eps, p.acc), textcoords="offset points", xytext=offset, fontsize=9, arrowprops=leader)
    return fig


def learning_curves(group: summary_io.Group) -> plt.Figure:
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=SIZE_IN, dpi=DPI)
    curves = [(s.label, s.learned_epochs) for s in group.summary.itertuples() if s.n_learned]
    for i, (arch, runs) in enumerate(curves):
        n = min(len(e) for e in runs)
        epochs = np.arange(1, n + 1)
        for ax, field in ((acc_ax, "test_acc"), (loss_ax, "train_loss")):
            values = np.array([[getattr(e, field) for e in run[:n]] for run in runs], dtype=float)
            ax.plot(epochs, values.mean(axis=0), marker="o", markersize=3, color=COLORS[i % len(COLORS)],
                    label=f"{arch} (n={len(runs)})")  # fmt: skip
            if len(runs) > 1:
                ax.fill_between(
                    epochs, values.min(axis=0), values.max(axis=0), color=COLORS[i % len(COLORS)], alpha=0.2
                )
    acc_ax.set_ylabel("test accuracy")
    loss_ax.set_ylabel("training loss (mean over the epoch)")
    for ax in (acc_ax, loss_ax):
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(f"Learning curves (mean, band: min-max over seeds)\n{_subtitle(group)}", fontsize=11)
    handles, labels = acc_ax.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=min(4, max(1, len(labels))), frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
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
    """Left: every seed's test accuracy, nin's (grey circles) above each ablation's (diamonds; blue where Welch's
    test finds a difference), on an axis that is what accuracy can be, [0, 1], with the difference of the means and
    its p. Right: the throughput difference with its 95% CI. Only ablations with an accuracy result are drawn."""
    numbers = ablation_numbers(group)
    if numbers is None:
        return None
    tested = [r for r in group.ablations if r["accuracy"] is not None]
    fig, axes = plt.subplots(1, 2, figsize=SIZE_IN, dpi=DPI, sharey=True)
    y = np.arange(len(tested))
    ax = axes[0]
    for yi, r in zip(y, tested):
        acc = r["accuracy"]
        ax.scatter(sorted(r["nin"].accs), [yi - 0.15] * len(r["nin"].accs), color="0.55", marker="o", s=28,
                   label="nin" if yi == 0 else None)  # fmt: skip
        ax.scatter(sorted(r["ablation"].accs), [yi + 0.15] * len(r["ablation"].accs), marker="D", s=28,
                   color="tab:blue" if acc.significant else "0.2", label="ablation" if yi == 0 else None)  # fmt: skip
        ax.annotate(f"{acc.difference * 100:+.1f} pp, p = {acc.p_value:.3f}", (0.02, yi + 0.38), fontsize=8,
                    xycoords=("axes fraction", "data"))  # fmt: skip
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("test accuracy, one point per seed")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", frameon=False)
    ax = axes[1]
    value, low, high = (numbers[f"speed_{k}"].to_numpy(dtype=float) for k in ("pct", "low", "high"))
    significant = numbers["speed_significant"].to_numpy()
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
    axes[0].set_yticks(y, [r["ablation"].label for r in tested])
    axes[0].invert_yaxis()
    fig.suptitle(f"NiN ablations against nin (blue: significant, Welch p < 0.05)\n{_subtitle(group)}", fontsize=11)
    fig.tight_layout()
    return fig


RENDERERS = {"pareto": accuracy_vs_throughput, "curves": learning_curves, "ablations": nin_ablations}


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
