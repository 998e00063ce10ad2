import struct

import numpy as np
import pytest
from matplotlib.collections import PathCollection

from benchmarks import records
from benchmarks.report import plots, summary
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
    points = sorted(tuple(c.get_offsets()[0]) for c in ax.collections if isinstance(c, PathCollection))
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


def test_learning_curves_are_the_mean_over_seeds(hand_records):
    fig = plots.learning_curves(hand_records)
    acc_ax, loss_ax = fig.axes
    lines = {line.get_label(): line for line in acc_ax.get_lines()}
    lenet = lines["lenet (n=3)"]
    # the hand-written epochs: test_acc - 0.02 * (epochs - 1 - e), epochs = 2; mean final accuracy 0.81
    assert np.allclose(lenet.get_ydata(), [0.79, 0.81])
    assert list(lenet.get_xdata()) == [1, 2]
    loss = {line.get_label(): line for line in loss_ax.get_lines()}["nin (n=2)"]
    assert np.allclose(loss.get_ydata(), [2.0, 1.0])


def test_ablation_chart_shows_tested_differences_with_their_ci(ablations, hand_records):
    from benchmarks.report import stats

    numbers = plots.ablation_numbers(ablations)
    assert list(numbers.index) == ["nin-no-1x1"]  # nin-one-1x1 has two seeds: no result, no bar
    welch = stats.welch([0.83, 0.84, 0.845], [0.86, 0.87, 0.88])
    assert numbers.loc["nin-no-1x1", "acc_pp"] == pytest.approx(welch.difference * 100)
    assert numbers.loc["nin-no-1x1", "acc_low"] == pytest.approx(welch.low * 100)
    assert bool(numbers.loc["nin-no-1x1", "acc_significant"])
    fig = plots.nin_ablations(ablations)
    seeds = [sorted(c.get_offsets()[:, 0]) for c in fig.axes[0].collections]
    assert np.allclose(seeds[0], [0.86, 0.87, 0.88]) and np.allclose(seeds[1], [0.83, 0.84, 0.845])  # every seed
    assert fig.axes[0].get_xlim() == (0.0, 1.0)  # accuracy's own range
    assert plots.nin_ablations(hand_records) is None  # two seeds a side: nothing to draw


def test_no_ablation_chart_without_nin(tmp_path):
    write(tmp_path, *make_record("lenet", 0, 0.8, 1000.0))
    only_lenet = one_group(tmp_path)
    assert plots.nin_ablations(only_lenet) is None
    assert list(plots.render_group(only_lenet, tmp_path / "out")) == ["pareto", "curves"]


def test_two_configurations_of_one_architecture_stay_apart(tmp_path):
    """Plots and tables aggregate per (architecture, configuration), never across configurations."""
    write(tmp_path, *make_record("lenet", 0, 0.80, 1000.0, epochs=2))
    write(tmp_path, *make_record("lenet", 0, 0.60, 3000.0, epochs=3))
    fig = plots.accuracy_vs_throughput(one_group(tmp_path))
    points = sorted(tuple(c.get_offsets()[0]) for c in fig.axes[0].collections if isinstance(c, PathCollection))
    assert np.allclose(points, [(1000.0, 0.80), (3000.0, 0.60)])
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert len(labels) == 2 and all(label.startswith("lenet [") for label in labels)
