"""Figures in the performance notes, outside generated blocks, checked against what they cite: the saved
pytest-benchmark runs, the FLOP counter, the committed records."""

import json
import re
import statistics
from pathlib import Path

import pytest

from benchmarks.schema import records

ROOT = Path(__file__).resolve().parents[1]
NOTES = (ROOT / "benchmarks" / "PERFORMANCE.md").read_text()


def saved_run(machine):
    (path,) = (ROOT / "results" / "benchmarks" / machine).rglob("*.json")
    return {b["name"]: b["stats"]["mean"] for b in json.loads(path.read_text())["benchmarks"]}


@pytest.mark.parametrize("machine", ["legacy-cpu-amd-epyc-2t", "cpu-amd-zen4-avx512bf16-2t"])
def test_the_pipeline_ratios_are_the_saved_runs(machine):
    means = saved_run(machine)
    device, d2l = 10 / means["test_device_pipeline"], 10 / means["test_d2l_dataloader"]  # 10 batches a round
    assert f"`results/benchmarks/{machine}/`" in NOTES
    assert f"{device:.1f} against {d2l:.1f} batches/sec, **{device / d2l:.2f}x**" in NOTES


def test_the_fast_path_figures_use_the_projects_flop_count():
    import archs
    from benchmarks.measure.model_stats import forward_flops

    training = 3 * forward_flops(archs.get_model("nin"), 96) / 1e9  # a step: forward and a backward twice its cost
    assert f"about {training:.3f} GFLOP" in NOTES
    assert f"x 626 = {training * 626:.0f} GFLOP/s" in NOTES and f"{training:.3f} x 280 = {training * 280:.0f}" in NOTES


def test_the_cpu_profile_table_is_the_committed_records():
    """Each row of the "cpu profile" table: one configuration's seeds 0 / 1 / 2 on cpu-amd-zen4-avx512bf16-2t, the
    mean over the seeds that learned, the mean training seconds; and the sum of training seconds said beside it."""
    superseded = ROOT / "results" / "superseded" / "adamw-fast-recipe"  # the fast recipe before Muon (issue 36)
    found = [r for r in records.read_records(superseded / "cpu-amd-zen4-avx512bf16-2t")
             if r.config.profile == "cpu" and r.final]  # fmt: skip
    table = NOTES.split("Test accuracy on all 10,000 test images, seeds 0 / 1 / 2")[1].split("\n\n")[1]
    rows = [line for line in table.splitlines()[2:]]
    total = 0.0
    for row in rows:
        arch, _, seeds, mean, seconds = [c.strip() for c in row.strip("|").split("|")]
        accs = [float(a) for a in seeds.split(" / ")]
        runs = {}
        for r in found:
            if r.arch == arch:
                runs.setdefault(r.run_id, {})[r.config.seed] = r
        matching = [rs for rs in runs.values() if [round(rs[s].final.test_acc, 3) for s in sorted(rs)] == accs]
        assert len(matching) == 1, row
        learned = [a for a in accs if a > 0.15]
        assert float(mean.split()[0]) == pytest.approx(statistics.mean(learned), abs=0.0015), row
        train = [r.final.train_seconds for r in matching[0].values()]
        assert int(seconds) == round(statistics.mean(train)), row
        total += sum(train)
    assert f"of which {total:.0f} s training" in NOTES


PAGES = [
    "benchmarks/PERFORMANCE.md",
    "README.md",
    "archs/README.md",
    "perf/README.md",
    *(f"benchmarks/{stage}/README.md" for stage in ("run", "train", "data", "measure", "report")),
]


@pytest.mark.parametrize("name", PAGES)
def test_no_path_in_the_prose_points_where_nothing_is(name):
    text = (ROOT / name).read_text()
    for path in re.findall(r"`((?:perf|benchmarks|results|archs|tests)/[\w./-]+)`", text):
        if "*" not in path and "<" not in path:
            assert (ROOT / path).exists(), path


def test_the_readme_is_a_readers_page_and_links_every_page_the_rest_moved_to():
    readme = (ROOT / "README.md").read_text()
    lines = readme.splitlines()
    assert len(lines) <= 250
    prose = [line for line in lines if not line.startswith(("|", "![", "```")) and len(line) > 120]
    assert not prose, prose[:1]
    first = "\n".join(lines[:60])
    assert "nox -s bench" in first and "nox -s tests" in first and "| rank " in first
    assert "**What the records say**" in first
    for page in PAGES[2:]:
        assert f"]({page})" in readme, page
