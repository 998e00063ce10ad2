import struct

import numpy as np
import pytest
from matplotlib.collections import PathCollection

from benchmarks.report import plots, summary
from benchmarks.schema import records
from tests.records_by_hand import ablation_set, make_record, standard_set, write


def one_group(folder):
    (group,) = summary.groups(records.read_records(folder))
    return group


@pytest.fixture
def hand_records(tmp_path):
    standard_set(tmp_path / "runs")
    return one_group(tmp_path / "runs")


@pytest.fixture
def ablations(tmp_path):
    ablation_set(tmp_path / "ablations")
    return one_group(tmp_path / "ablations")


def means(ax):
    """The scatter plots' large markers: each entry's mean, the one with a legend label."""
    return [c for c in ax.collections if isinstance(c, PathCollection) and not c.get_label().startswith("_")]


def png_size(path):
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_every_plot_is_a_png_of_the_stated_size(ablations, tmp_path):
    written = plots.render_all([ablations], tmp_path / "out")
    assert list(written) == [ablations.key]
    files = written[ablations.key]
    assert {k: p.name for k, p in files.items()} == {k: f"test-gpu-full-bf16-{k}.png" for k in plots.KINDS}
    assert sorted((tmp_path / "out" / "plots").iterdir()) == sorted(files.values())  # reported = written
    width, height = plots.SIZE_IN[0] * plots.DPI, plots.SIZE_IN[1] * plots.DPI
    for path in files.values():
        assert png_size(path) == (width, height)


def test_accuracy_vs_throughput_plots_the_records_numbers(hand_records):
    fig = plots.accuracy_vs_throughput(hand_records)
    ax = fig.axes[0]
    points = sorted(tuple(c.get_offsets()[0]) for c in means(ax))
    # lenet: 0.80/0.81/0.82 at 80,000; nin: the two ok seeds 0.86/0.88 at 30,000 (the diverged one left out)
    expected = sorted([(30_000.0, 0.87), (40_000.0, 0.86), (80_000.0, 0.81)])
    assert np.allclose(points, expected)
    assert ax.get_xscale() == "log"
    front = [line for line in ax.get_lines() if line.get_label() == "Pareto front"][0]
    assert np.allclose(front.get_xdata(), [30_000, 40_000, 80_000]) or np.allclose(front.get_xdata(), [30_000, 80_000])


def test_pareto_front_drops_dominated_points():
    import pandas as pd

    points = pd.DataFrame({"acc": [0.9, 0.8, 0.85, 0.7], "eps": [100, 1000, 500, 400]}, index=list("abcd"))
    assert list(plots.pareto_front(points).index) == ["a", "c", "b"]  # d is beaten by c on both


def test_learning_curves_are_each_seeds_evaluation_log(hand_records):
    """d2l-style curves from the evaluation log: test accuracy against training seconds and against examples seen,
    one line per learned seed (the diverged nin seed is not drawn)."""
    fig = plots.learning_curves(hand_records)
    time_ax, examples_ax = fig.axes[:2]
    lenet_color = next(line.get_color() for line in time_ax.get_lines() if line.get_label() == "lenet (n=3)")
    lenet = [line for line in time_ax.get_lines() if line.get_color() == lenet_color]
    assert len(lenet) == 3  # a line per seed
    # the hand-written seed 0: 0.80 final, epochs of 60,000 examples at 80,000/s; test_acc - 0.02 per epoch before
    assert np.allclose(lenet[0].get_xdata(), [0.75, 1.5]) and np.allclose(lenet[0].get_ydata(), [0.78, 0.80])
    share = [line for line in examples_ax.get_lines() if line.get_color() == lenet_color]
    assert np.allclose(share[0].get_xdata(), [0.5, 1.0])  # 60,000 and 120,000 of the run's 120,000 images
    nin_color = next(line.get_color() for line in time_ax.get_lines() if line.get_label() == "nin (n=2)")
    assert sum(line.get_color() == nin_color for line in time_ax.get_lines()) == 2
    assert time_ax.get_ylim() == (0.0, 1.0)


def test_time_to_accuracy_plot_is_the_share_of_seeds_that_reached_each_target(ablations):
    fig = plots.time_to_accuracy(ablations)
    ax = fig.axes[0]
    assert "0.85" in ax.get_title()
    nin = next(line for line in ax.get_lines() if line.get_label() == "nin (n=3)")
    # nin's seeds end at 0.86, 0.87, 0.88 after epoch 2 (0.84-0.86 after epoch 1): seed 2 reaches 0.85 after its
    # first epoch (60,000 / 30,200 s), seeds 0 and 1 after their second
    assert np.allclose(nin.get_ydata()[:4], [0.0, 1 / 3, 2 / 3, 1.0])
    assert nin.get_xdata()[1] == pytest.approx(60_000 / 30_200)
    assert len(fig.axes) == 1  # no seed reached 0.90: no panel for it


def test_accuracy_axes_never_leave_0_to_1(tmp_path):
    """Seeds far apart give intervals wider than accuracy can be: every accuracy axis stays inside [0, 1]."""
    for seed, acc in enumerate((0.2, 0.6, 0.99)):
        write(tmp_path, *make_record("nin", seed, acc, 30_000.0 + seed))
        write(tmp_path, *make_record("nin-no-1x1", seed, acc, 40_000.0 + seed))
    group = one_group(tmp_path)
    for kind, render in plots.RENDERERS.items():
        fig = render(group)
        if fig is None:
            continue
        for ax in fig.axes:
            for label, limits in ((ax.get_ylabel(), ax.get_ylim()), (ax.get_xlabel(), ax.get_xlim())):
                if "accuracy" in label:
                    assert 0.0 <= min(limits) and max(limits) <= 1.0, (kind, label, limits)
        bars = [c for ax in fig.axes for c in ax.collections if c.__class__.__name__ == "LineCollection"]
        for bar in bars:  # error bars: every segment's ends inside [0, 1] on the accuracy axis
            for segment in bar.get_segments():
                if kind in ("pareto", "params") and np.isclose(segment[0][0], segment[1][0]):  # vertical: accuracy
                    assert segment[:, 1].min() >= 0.0 and segment[:, 1].max() <= 1.0


def test_ablation_chart_shows_tested_differences_with_their_ci(ablations, hand_records):
    from benchmarks.report import stats

    numbers = plots.ablation_numbers(ablations)
    assert list(numbers.index) == ["nin-no-1x1"]  # nin-one-1x1 has two seeds: no result, no bar
    welch = stats.welch([0.83, 0.84, 0.845], [0.86, 0.87, 0.88])
    assert numbers.loc["nin-no-1x1", "acc_pp"] == pytest.approx(welch.difference * 100)
    assert numbers.loc["nin-no-1x1", "acc_low"] == pytest.approx(welch.low * 100)
    assert bool(numbers.loc["nin-no-1x1", "acc_significant"])
    fig = plots.nin_ablations(ablations)
    seeds = [sorted(c.get_offsets()[:, 0]) for c in fig.axes[0].collections if len(c.get_offsets())]
    # every ablation is drawn, the untested one too, each seed a point: nin, nin-no-1x1, nin, nin-one-1x1
    assert np.allclose(seeds[0], [0.86, 0.87, 0.88]) and np.allclose(seeds[1], [0.83, 0.84, 0.845])
    assert np.allclose(seeds[3], [0.85, 0.86])
    notes = [t.get_text() for t in fig.axes[0].texts]
    assert any(n.startswith("no test: needs 3 learned seeds") for n in notes)
    assert fig.axes[0].get_xlim() == (0.0, 1.0)  # accuracy's own range
    assert plots.nin_ablations(hand_records) is None  # two seeds a side: nothing to draw


def test_no_ablation_chart_without_nin(tmp_path):
    write(tmp_path, *make_record("lenet", 0, 0.8, 1000.0))
    only_lenet = one_group(tmp_path)
    assert plots.nin_ablations(only_lenet) is None
    assert list(plots.render_group(only_lenet, tmp_path / "out")) == ["curves"]  # one point: no scatter; 0.8: no tta


def test_a_scatter_shows_one_configuration_an_entry_named_by_the_entry(tmp_path):
    """Plots never aggregate across configurations: of two configurations of one entry the one with more learned
    seeds is drawn, named by the entry (no configuration hash); its seeds are points beside its mean."""
    for seed in range(2):
        write(tmp_path, *make_record("lenet", seed, 0.80 + seed / 100, 1000.0, epochs=2))
    write(tmp_path, *make_record("lenet", 0, 0.60, 3000.0, epochs=3))
    write(tmp_path, *make_record("nin", 0, 0.70, 500.0, epochs=2))
    fig = plots.accuracy_vs_throughput(one_group(tmp_path))
    ax = fig.axes[0]
    assert np.allclose(sorted(tuple(c.get_offsets()[0]) for c in means(ax)), [(500.0, 0.70), (1000.0, 0.805)])
    seeds = [c for c in ax.collections if isinstance(c, PathCollection) and c not in means(ax)]
    assert sorted(len(c.get_offsets()) for c in seeds) == [1, 2]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["lenet (n=2)", "nin (n=1)"]


def drawn_texts(fig):
    """Every text a saved figure shows: titles, labels, legends, notes, and the tick labels inside the axes' limits
    (matplotlib keeps ticks beyond the limits without drawing them)."""
    from matplotlib.text import Text

    fig.canvas.draw()
    ticks, drawn = set(), []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for t in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks |= {id(t.label1), id(t.label2)}
            drawn += [t.label1 for t in axis._update_ticks() if t.label1.get_visible()]
    others = [t for t in fig.findobj(Text) if id(t) not in ticks]
    return [t for t in drawn + others if t.get_visible() and t.get_text().strip()]


def test_no_text_of_any_plot_overlaps_another_or_leaves_the_frame():
    """Every plot of every committed group, and of the hand-made sets: each text box inside the figure and apart
    from every other (one pixel of slack), and every accuracy axis inside [0, 1]."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    groups = summary.groups(records.read_records(root / "results" / "runs"))
    drawn = 0
    for group in groups:
        if not group.accuracy_is_result:
            continue
        for kind, render in plots.RENDERERS.items():
            fig = render(group)
            if fig is None:
                continue
            drawn += 1
            renderer = fig.canvas.get_renderer()
            boxes = [(t.get_text(), t.get_window_extent(renderer).padded(-1)) for t in drawn_texts(fig)]
            frame = fig.bbox.padded(1)
            for text, box in boxes:
                assert frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1), (group.key, kind, text)
            for i, (a, box_a) in enumerate(boxes):
                for b, box_b in boxes[i + 1 :]:
                    assert not box_a.overlaps(box_b), (group.key, kind, a, b)
            for ax in fig.axes:
                for label, limits in ((ax.get_ylabel(), ax.get_ylim()), (ax.get_xlabel(), ax.get_xlim())):
                    if "accuracy" in label:
                        assert 0.0 <= min(limits) and max(limits) <= 1.0, (group.key, kind)
            plt_close(fig)
    assert drawn >= 15


def plt_close(fig):
    import matplotlib.pyplot as plt

    plt.close(fig)
