import dataclasses
import json
import re

import pytest

from benchmarks import cli
from benchmarks.commands import leaderboard as leaderboard_command
from benchmarks.report import leaderboard, plots, step_throughput, summary
from benchmarks.schema import records
from benchmarks.schema.records import ReportFacts
from tests.records_by_hand import ablation_set, make_record, standard_set, write


def render_from(folder):
    """The leaderboard's groups (below the headline, which has tests of its own)."""
    md = leaderboard.leaderboard_markdown(summary.groups(records.read_records(folder)), "runs")
    return md.split("## Every machine and profile")[1]


MARKS = leaderboard.Notes.MARKS


def with_notes(markdown, row):
    """``row`` with each footnote mark replaced by its text (the first "- MARK text" line after the row)."""
    after = markdown[markdown.index(row) :]
    for mark in MARKS:
        if mark in row:
            text = next(line[len(f"- {mark} ") :] for line in after.splitlines() if line.startswith(f"- {mark} "))
            row = row.replace(mark, text)
    return row


def row_of(markdown, label):
    """The rows of the first group's tables whose first cell is ``label`` (footnote marks aside), joined, each
    with its footnotes' texts: its results row and its cost row, say."""
    for group in markdown.split("\n### "):
        found = [line for line in group.splitlines()
                 if line.startswith("|") and line.split("|")[1].strip().rstrip(MARKS).strip() == label]  # fmt: skip
        if found:
            return " ‖ ".join(with_notes(group, line) for line in found)
    raise StopIteration(label)


def test_table_shows_mean_with_its_95_ci_against_scipy(tmp_path):
    from scipy import stats as st

    standard_set(tmp_path)
    md = render_from(tmp_path)
    low, high = st.t.interval(0.95, 2, loc=0.81, scale=st.sem([0.80, 0.81, 0.82]))
    assert f"0.810 ± {(high - low) / 2:.3f} (n=3)" in row_of(md, "lenet")  # 0.80, 0.81, 0.82: ± 0.025
    assert "80,000" in row_of(md, "lenet") and "61,706" in row_of(md, "lenet")


def test_failed_runs_show_as_what_they_are(tmp_path):
    standard_set(tmp_path)
    nin = row_of(render_from(tmp_path), "nin")
    assert "0.870 ± 0.127 (n=2)" in nin and "1 diverged (epoch 2)" in nin  # the diverged 0.1 is not averaged in
    write(tmp_path, *make_record("lenet", 0, 0.0, 1.0, status="oom", profile="smoke"))
    smoke = render_from(tmp_path).split("profile `smoke`")[1]
    assert re.search(r"\| lenet .*\| oom ", smoke)


def test_a_run_at_chance_is_flagged_and_not_averaged_in(tmp_path):
    for seed, acc in enumerate((0.80, 0.82, 0.101)):
        write(tmp_path, *make_record("lenet", seed, acc, 80_000.0))
    row = row_of(render_from(tmp_path), "lenet")
    assert "0.810 ± 0.127 (n=2)" in row and "1 did not learn" in row


def test_a_smoke_group_shows_no_accuracy_and_draws_no_accuracy_plot(tmp_path):
    for seed in range(3):
        write(tmp_path / "runs", *make_record("lenet", seed, 0.80 + seed / 100, 80_000.0, profile="smoke"))
    (group,) = summary.groups(records.read_records(tmp_path / "runs"))
    md = leaderboard.render([group])
    assert "A check, not a result" in md and "| test acc" not in md and "0.80" not in md
    assert "d2l published" not in md and "verdict" not in md
    assert plots.render_all([group], tmp_path / "out") == {} and not (tmp_path / "out").exists()


def test_nin_ablations_as_welch_tests_against_scipy_or_no_result(tmp_path):
    from scipy import stats as st

    ablation_set(tmp_path)
    md = render_from(tmp_path).split("NiN ablations")[1]
    tested = row_of(md, "nin-no-1x1")
    welch = st.ttest_ind([0.83, 0.84, 0.845], [0.86, 0.87, 0.88], equal_var=False)
    ci = welch.confidence_interval(0.95)
    assert "-446,108" in tested  # 1,546,058 - 1,992,166
    assert f"{-3.17:+.1f} pp [{ci.low * 100:+.1f}, {ci.high * 100:+.1f}]" in tested  # 0.838 against 0.870
    assert f" {welch.pvalue:.3f} |" in tested and "**significant**" in tested
    assert "+33% [" in tested  # 40,100 against 30,100 examples/s, as a share of nin's
    two_seeds = row_of(md, "nin-one-1x1")
    assert "no result needs 3 learned seeds in each arm (has 2, nin 3)" in two_seeds


def test_an_ablation_against_a_baseline_at_chance_is_no_result(tmp_path):
    for seed in range(3):
        write(tmp_path, *make_record("nin", seed, 0.10 + seed / 1000, 30_000.0))
        write(tmp_path, *make_record("nin-no-1x1", seed, 0.60 + seed / 100, 40_000.0))
    row = row_of(render_from(tmp_path).split("NiN ablations")[1], "nin-no-1x1")
    assert "no result needs 3 learned seeds in each arm (has 3, nin 0)" in row and " pp" not in row


def test_gap_against_fc_is_no_result_where_the_last_map_is_1x1(tmp_path):
    for seed in range(3):
        for arch, acc in (("nin", 0.85), ("nin-fc-head", 0.80)):
            config, record = make_record(arch, seed, acc + seed / 100, 30_000.0)
            config = dataclasses.replace(config, resolution=72)
            record = dataclasses.replace(record, config=config, tags=["nin", "ablation", "needs-spatial-map"]
                                         if arch != "nin" else ["nin"],
                                         report=ReportFacts("", 1, True, True))  # NiN's class map at 72 px: 1x1  # fmt: skip
            write(tmp_path, config, record)
    ablations = render_from(tmp_path).split("NiN ablations")[1]
    row = row_of(ablations, "nin-fc-head")
    assert "no result meaningless at 72 px: NiN's last map is 1x1" in row


def test_a_nin_run_at_chance_does_not_pass_the_d2l_range(tmp_path):
    """d2l's 0.100 NiN build did not converge: it is shown apart, and a run at 0.10 is "no learned seed"."""
    write(tmp_path, *make_record("nin", 0, 0.100, 30_000.0))
    write(tmp_path, *make_record("lenet", 0, 0.80, 80_000.0))  # another row: the missing mean becomes NaN
    md = render_from(tmp_path)
    d2l = row_of(md.split("Against d2l's published builds")[1], "nin")
    assert "0.772–0.879 (22 converged builds); 0.100 did not converge" in d2l
    assert "no learned seed" in d2l and "within" not in d2l


def test_single_published_builds_are_points(tmp_path):
    for seed, acc in enumerate((0.84, 0.85, 0.86)):
        write(tmp_path, *make_record("lenet-bn", seed, acc, 50_000.0))
    d2l = row_of(render_from(tmp_path).split("Against d2l's published builds")[1], "lenet-bn")
    assert "0.708 and 0.838 (single builds)" in d2l and "above both" in d2l


def test_fast_path_against_exact_on_the_same_machine(tmp_path):
    from benchmarks.schema.compute import EXACT

    write(tmp_path, *make_record("lenet", 0, 0.80, 80_000.0))
    write(tmp_path, *make_record("lenet", 0, 0.80, 20_000.0, fast=EXACT))
    md = render_from(tmp_path)
    assert " 4.00x |" in row_of(md.split("· bf16")[1], "lenet")
    assert "ours / d2l" not in md


def test_groups_by_device(tmp_path):
    write(tmp_path / "a", *make_record("lenet", 0, 0.8, 1.0, machine="gpu-a"))
    write(tmp_path / "b", *make_record("lenet", 0, 0.7, 1.0, machine="gpu-b"))
    md = render_from(tmp_path)
    assert md.index("### gpu-a") < md.index("### gpu-b")
    assert "Machine: gpu-a by name." in md
    assert md.count("| lenet ") == 6  # a results row, a cost row and a d2l row in each group


def test_regeneration_is_byte_identical(tmp_path):
    ablation_set(tmp_path / "runs")
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{leaderboard.README_START}\nold\n{leaderboard.README_END}\nafter\n")

    argv = ["leaderboard", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "results" / "LEADERBOARD.md"),
            "--readme", str(readme), "--benchmarks", str(tmp_path / "benchmarks")]  # fmt: skip
    args = cli.build_parser().parse_args(argv)
    leaderboard_command.main(args)
    board = tmp_path / "results" / "LEADERBOARD.md"
    pictures = sorted((tmp_path / "results" / "plots").glob("*.png"))
    # accuracy against throughput and against parameters, learning curves, time to accuracy, NiN ablations
    # accuracy against throughput and against parameters, learning curves, time to accuracy, NiN ablations
    assert {p.name.rsplit("-", 1)[1] for p in pictures} == {"pareto.png", "params.png", "curves.png", "tta.png",
                                                            "ablations.png"}  # fmt: skip
    first, first_readme = board.read_bytes(), readme.read_bytes()
    first_pictures = [p.read_bytes() for p in pictures]
    leaderboard_command.main(args)
    assert board.read_bytes() == first
    assert readme.read_bytes() == first_readme
    assert [p.read_bytes() for p in pictures] == first_pictures
    for p in pictures:  # linked from the leaderboard, relative to it; the README links the headline's two
        assert f"](plots/{p.name})" in first.decode()
    assert first_readme.decode().count("](results/plots/") == 2
    text = first_readme.decode()
    assert text.startswith("# x\n\nbefore\n") and text.endswith("after\n") and "old" not in text
    assert "0.870 ± 0.025 (n=3)" in text


def test_malformed_record_is_skipped_with_a_warning_naming_it(tmp_path, capsys):
    standard_set(tmp_path)
    (tmp_path / "broken.json").write_text('{"arch": "lenet", ')
    (tmp_path / "wrong.json").write_text('{"arch": "lenet"}')
    warnings = []
    found = records.read_records(tmp_path, warn=warnings.append)
    assert len(found) == 8
    assert any("broken.json" in w for w in warnings) and any("wrong.json" in w for w in warnings)


@pytest.mark.parametrize(
    "mangle, where",
    [
        (lambda r: r.pop("status"), "status: missing"),
        (lambda r: r.update(status="great"), "unknown status 'great'"),
        (lambda r: r.update(final=None), "an ok record without its final numbers"),
        (lambda r: r["final"].update(test_acc=87.0), "test_acc is not a fraction"),
        (lambda r: r.update(params="many"), "params: expected an integer"),
        (lambda r: r["config"]["fast"].update(tf32="yes"), "config.fast.tf32: expected true or false"),
        (lambda r: r["epochs"][1].pop("timed_seconds"), "epochs[1].timed_seconds: missing"),
        (lambda r: r["config"].update(colour="red"), "config: unknown key 'colour'"),
    ],
)
def test_validation_follows_the_types_and_says_where(mangle, where):
    _, record = make_record("lenet", 0, 0.8, 1.0)
    data = json.loads(records.to_json(record))
    assert records.from_json(data) == record  # JSON out and back in gives the same record
    mangle(data)
    with pytest.raises(records.RecordError, match=re.escape(where)):
        records.from_json(data)


def test_no_records_still_renders():
    assert "No run records yet" in leaderboard.render([])


def test_a_schema_1_record_is_refused_on_reading_and_upgraded_by_the_command_under_a_legacy_machine():
    """Reading never migrates: a record from before machine fingerprints is refused, naming the command; the
    command's reader brings it to today's shape."""
    from benchmarks import upgrade_records

    _, record = make_record("lenet", 0, 0.8, 1000.0)
    new = json.loads(records.to_json(record))
    config = {k: v for k, v in new["config"].items() if k not in ("fast", "machine")}
    config.update(precision="bf16", channels_last=True, compile=False, fused_optimizer=True, device="cpu")
    old = {**new, "schema": 1, "config": config,
           "env": {"device": "cpu", "device_name": "CPU AMD EPYC (2 threads)", "hostname": "box", "torch": "2.13.0"},
           "epochs": [{**{k: v for k, v in e.items() if k not in ("timed_examples", "timed_seconds")},
                       "train_examples": e["timed_examples"], "train_seconds": e["timed_seconds"]}
                      for e in new["epochs"]]}  # fmt: skip
    for key in ("error", "diverged_epoch", "oom_retries", "batch_size_used"):
        old.pop(key)
    with pytest.raises(records.RecordError, match="upgrade_records"):
        records.from_json(old)
    loaded = upgrade_records.from_any_json(old)
    assert loaded.machine == "legacy-cpu-amd-epyc-2t"
    assert loaded.config.fast.precision == "bf16" and loaded.config.fast.optimizer_impl == "foreach"
    assert loaded.epochs[0].timed_examples == 60_000 and loaded.final == record.final
    assert "hostname" not in loaded.env


def saved_benchmark_run(folder, device_name, when, eps, peak=1e12, machine=None):
    def bench(kind, **info):
        return {"name": kind, "stats": {"mean": 1.0}, "extra_info": {"kind": kind, **info}}

    flops = 3 * 1.5e9 * eps
    data = {
        "machine_info": {"device_name": device_name, "torch": "2.13.0", **({"cnn_bench_machine": machine} if machine else {})},
        "datetime": when,
        "benchmarks": [
            bench("train_step", arch="nin", resolution=224, batch_size=128, precision="bf16", examples_per_sec=eps,
                  model_flops_per_sec=flops),
            bench("inference", arch="nin", resolution=224, batch_size=128, precision="bf16", examples_per_sec=3 * eps,
                  model_flops_per_sec=1.5e9 * 3 * eps),
            bench("matmul_peak", precision="bf16", flops_per_sec=peak),
        ],
    }  # fmt: skip
    path = folder / f"{when}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_step_throughput_table_uses_the_newest_run_and_its_own_peak(tmp_path):
    saved_benchmark_run(tmp_path / "m", "GPU X", "2026-01-01T00:00:00", eps=10_000.0)
    saved_benchmark_run(tmp_path / "m", "GPU X", "2026-02-01T00:00:00", eps=20_000.0, peak=4.5e14)
    runs = step_throughput.latest_per_device(tmp_path)
    assert list(runs) == ["GPU X"]
    markdown, note = step_throughput.table(runs["GPU X"])
    row = row_of(markdown, "nin")
    assert "20,000" in row and "60,000" in row  # train and inference examples/s of the newer run
    assert "90.00" in row  # 3 x 1.5 GFLOP x 20,000 /s = 90 TFLOP/s
    assert "| 20% " in row  # of the 450 TFLOP/s matrix product measured in that run
    assert "450.00 TFLOP/s" in note and "No MFU" in note  # no vendor peak for "GPU X"
    assert "Step throughput on GPU X" in leaderboard.render([], saved_runs=runs)
    (tmp_path / "n").mkdir()
    saved_benchmark_run(tmp_path / "n", "GPU Y", "2026-03-01T00:00:00", eps=1.0, machine="gpu-y-slug")
    assert list(step_throughput.latest_per_device(tmp_path / "n")) == ["gpu-y-slug"]  # by machine, when saved


def test_step_throughput_table_puts_the_stacked_seeds_beside_one_eager_seed(tmp_path):
    saved_benchmark_run(tmp_path, "GPU X", "2026-01-01T00:00:00", eps=10_000.0)
    data = json.loads((tmp_path / "2026-01-01T00:00:00.json").read_text())
    for seeds, eps in ((3, 21_000.0), (1, 8_000.0)):  # the stacked one first: the column order must not follow it
        data["benchmarks"].append({"name": f"chapter_step[nin-{seeds}]", "stats": {"mean": 1.0}, "extra_info": {
            "kind": "chapter_step", "arch": "nin", "resolution": 224, "batch_size": 128, "precision": "bf16",
            "seeds": seeds, "examples_per_sec": eps}})  # fmt: skip
    markdown, note = step_throughput.table(data)
    header = markdown.splitlines()[0]
    assert header.index("eager train examples/s") < header.index("eager, 3 seeds stacked")
    cells = [c.strip() for c in row_of(markdown, "nin").split("|")]
    names = [c.strip() for c in header.split("|")]
    assert cells[names.index("eager train examples/s")] == "8,000"
    assert cells[names.index("eager, 3 seeds stacked")] == "21,000"
    assert cells[names.index("train examples/s")] == "10,000"  # the compiled step's, untouched
    assert "seeds stacked in one step" in note


def test_committed_leaderboard_is_what_the_committed_records_give(tmp_path, monkeypatch):
    """results/LEADERBOARD.md and the README block are generated, never edited: regenerating changes nothing."""
    import shutil
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    if not (root / "results" / "LEADERBOARD.md").exists():
        pytest.skip("no committed leaderboard")
    shutil.copytree(root / "results", tmp_path / "results")
    shutil.copy(root / "README.md", tmp_path / "README.md")
    monkeypatch.chdir(tmp_path)
    leaderboard_command.main(cli.build_parser().parse_args(["leaderboard"]))
    assert (tmp_path / "results" / "LEADERBOARD.md").read_text() == (root / "results" / "LEADERBOARD.md").read_text()
    assert (tmp_path / "README.md").read_text() == (root / "README.md").read_text()


def test_mfu_divides_by_the_vendor_peak_and_says_so(tmp_path):
    saved_benchmark_run(tmp_path, "NVIDIA H100 80GB HBM3", "2026-01-01T00:00:00", eps=20_000.0, peak=8e14)
    (run,) = step_throughput.latest_per_device(tmp_path).values()
    markdown, note = step_throughput.table(run)
    row = row_of(markdown, "nin")
    assert "| 9.1% " in row  # 90 TFLOP/s over H100 SXM's dense bf16 989.4
    assert "| 11% " in row  # and over the 800 TFLOP/s matmul measured in the run, labelled as such
    assert "MFU (vendor peak)" in markdown and "% of measured matmul" in markdown
    assert "H100 SXM dense bf16 989.4 TFLOP/s" in note


def test_vendor_peaks_per_precision_and_tf32():
    from benchmarks.schema.peaks import vendor_peak

    assert vendor_peak("NVIDIA H100 PCIe", "bf16")[0] == 756.5e12
    assert vendor_peak("NVIDIA A100-SXM4-80GB", "fp32")[0] == 19.5e12
    assert vendor_peak("NVIDIA A100-SXM4-80GB", "fp32", tf32=True)[0] == 156e12
    assert vendor_peak("Tesla V100-SXM2-16GB", "bf16") is None  # no bf16 on Volta: no MFU rather than a wrong one
    assert vendor_peak("CPU AMD EPYC (zen4, AVX512, native bf16, 2 threads)", "bf16") is None


def test_a_gpu_groups_cost_table_gives_each_entrys_training_mfu_and_a_cpu_group_none(tmp_path):
    """A run's training MFU: 3 forward passes an example (forward, and a backward of two) x its forward FLOPs x
    examples/s, over the datasheet's dense bf16 peak (H200 SXM: 989.4 TFLOP/s); the export carries the fraction.
    A CPU has no vendor peak: its group's cost table has no MFU column."""
    from benchmarks.report import export

    for seed, eps in ((0, 30_000.0), (1, 34_000.0)):
        config, record = make_record("nin", seed, 0.86, eps)
        write(tmp_path, config, dataclasses.replace(record, env={**record.env, "device_name": "NVIDIA H200"}))
    config, record = make_record("nin", 0, 0.86, 500.0, machine="test-cpu")
    write(tmp_path, config, dataclasses.replace(record, env={**record.env, "device_name": "CPU AMD EPYC (zen4)"}))
    expected = 3 * 1_524_594_704 * 32_000.0 / 989.4e12  # the two seeds' mean rate; 14.8%
    groups = summary.groups(records.read_records(tmp_path))
    md = render_from(tmp_path)

    def cost_table(machine):  # {column: the nin row's cell} of the group's cost table
        group = next(part for part in md.split("\n### ") if part.startswith(f"{machine} "))
        header, _, row = group.split("Cost:\n\n")[1].split("\n\n")[0].splitlines()
        return dict(zip((c.strip() for c in header.split("|")), (c.strip() for c in row.split("|"))))

    assert cost_table("test-gpu")["MFU"] == f"{100 * expected:.1f}%"
    assert "MFU" not in cost_table("test-cpu")
    (gpu_row,) = [r for r in export.row_dicts(groups) if r["machine"] == "test-gpu"]
    assert gpu_row["train_mfu"] == pytest.approx(expected)
    assert [r["train_mfu"] for r in export.row_dicts(groups) if r["machine"] == "test-cpu"] == [None]


def test_an_oom_retried_seed_shows_its_batch_and_is_not_averaged_in(tmp_path):
    write(tmp_path, *make_record("nin", 0, 0.86, 30_000.0))
    write(tmp_path, *make_record("nin", 1, 0.88, 30_000.0))
    write(tmp_path, *make_record("nin", 2, 0.70, 20_000.0, batch_size_used=64, oom_retries=[128]))
    md = render_from(tmp_path)
    plain = row_of(md, "nin")
    retried = row_of(md, "nin (OOM retry: batch 64)")
    assert "0.870 ± 0.127 (n=2)" in plain and "bs 128" in plain
    assert "0.700 (n=1)" in retried and "bs 64" in retried


def test_time_to_accuracy_table_median_olympic_and_not_reached(tmp_path):
    for seed, seconds in enumerate((50.0, 10.0, 20.0, 30.0, None)):
        config, record = make_record("nin", seed, 0.86, 30_000.0)
        times = {"0.85": seconds, "0.90": None, "0.92": None}
        record = dataclasses.replace(record, final=dataclasses.replace(record.final, time_to_accuracy=times))
        write(tmp_path, config, record)
    write(tmp_path, *make_record("lenet", 0, 0.80, 80_000.0))  # reached nothing: left out of the table
    table = render_from(tmp_path).split("Time to accuracy:\n")[1].split("Against d2l")[0]
    row = next(line for line in table.splitlines() if line.startswith("| nin ") and "0.85" in line)
    assert "30.0 s" in row.split("|")[3] and "33.3 s" in row.split("|")[4]  # median; olympic: 20, 30, 50
    assert row.split("|")[6].strip() == "1"
    assert "| lenet " not in table


def test_the_book_recipe_beside_the_fast_one_under_the_same_budget(tmp_path):
    from benchmarks.schema import recipe as recipes

    for seed in range(3):
        write(tmp_path, *make_record("nin", seed, 0.10, 30_000.0))  # d2l's recipe, left at chance
        config, record = make_record("nin", seed, 0.80 + seed / 100, 30_000.0)
        config = dataclasses.replace(config, recipe=recipes.FAST.parts, optimizer="adamw", lr=0.003, batch_size=64)
        write(tmp_path, config, dataclasses.replace(record, config=config))
        config, record = make_record("lenet", seed, 0.80, 80_000.0)  # no fast-recipe run: not in the table
        write(tmp_path, config, record)
    config, record = make_record("nin", 0, 0.85, 30_000.0, epochs=3)  # another budget: not set beside d2l's
    config = dataclasses.replace(config, recipe=recipes.FAST.parts)
    write(tmp_path, config, dataclasses.replace(record, config=config))
    table = render_from(tmp_path).split("The book's recipe beside the fast one")[1].split("\n\n")[1]
    rows = [line for line in table.splitlines()[2:]]
    assert len(rows) == 1 and rows[0].split("|")[1].strip() == "nin"
    cells = [c.strip() for c in rows[0].split("|")]
    assert cells[2] == "2 ep of 60,000, 224 px"
    assert cells[3] == "3 did not learn (≤ 0.15)" and cells[4].startswith("0.810 ± ")


def test_the_cpu_profile_is_not_judged_against_d2l_ten_epochs(tmp_path):
    for seed in range(3):
        write(tmp_path, *make_record("lenet", seed, 0.64 + seed / 100, 16_000.0, profile="cpu", epochs=1))
        write(tmp_path, *make_record("lenet", seed, 0.80, 16_000.0, profile="full"))
    text = render_from(tmp_path)
    cpu = text.split("profile `cpu`")[1].split("### ")[0]
    full = text.split("profile `full`")[1].split("### ")[0]
    assert "0.650 ± " in cpu and "Against d2l's published builds" not in cpu
    assert "Against d2l's published builds" in full


def test_the_leaderboard_reads_records_alone(tmp_path):
    """With the registry unimportable (``archs`` set to None in sys.modules: any import of it fails), the committed
    records still give the committed leaderboard, README block and plots, byte for byte: the report reads records
    and nothing else."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    if not (root / "results" / "LEADERBOARD.md").exists():
        pytest.skip("no committed leaderboard")
    shutil.copytree(root / "results", tmp_path / "results")
    shutil.copy(root / "README.md", tmp_path / "README.md")
    (tmp_path / "results" / "plots").rename(tmp_path / "committed-plots")
    script = ("import sys; sys.modules['archs'] = None; from benchmarks import cli; "
              "sys.exit(cli.main(['leaderboard']))")  # fmt: skip
    env = {**__import__("os").environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "results" / "LEADERBOARD.md").read_bytes() == (root / "results" / "LEADERBOARD.md").read_bytes()
    assert (tmp_path / "README.md").read_bytes() == (root / "README.md").read_bytes()
    made = sorted(p.name for p in (tmp_path / "results" / "plots").glob("*.png"))
    assert made and all(
        (tmp_path / "results" / "plots" / n).read_bytes() == (root / "results" / "plots" / n).read_bytes() for n in made
    )


def test_the_records_reference_has_the_registrys_published_fields():
    """records.Reference is a copy of archs.Published (so that records are read without the registry): the same
    fields, the same defaults, in the same order."""
    import dataclasses

    import archs

    def shape(kind):
        return [(f.name, f.default) for f in dataclasses.fields(kind)]

    assert shape(records.Reference) == shape(archs.Published)


def test_time_to_train_is_the_step_clock_and_the_warm_up_with_its_compilation_stands_beside_it():
    """A cold compile is a minute of warm-up before seconds of training: "time to train" counts the steps only."""
    import dataclasses

    from benchmarks.report import summary
    from tests.records_by_hand import make_record

    _, record = make_record("nin", 0, 0.8, 6_000.0, epochs=1)  # 60,000 examples at 6,000/s: 10 s of steps
    final = dataclasses.replace(record.final, train_seconds=70.0, warmup_seconds=60.0)
    (group,) = summary.groups([dataclasses.replace(record, final=final)])
    (row,) = group.summary.itertuples()
    assert row.train_seconds == pytest.approx(10.0) and row.warmup_seconds == pytest.approx(60.0)


def test_a_seed_stopped_and_resumed_is_marked_where_its_warm_up_is_summed_and_exported_with_its_epochs(tmp_path):
    """Seed 1 went on after epoch 1 in a new process: its warm-up ran twice and is summed, so the warm-up cell
    carries a note saying 1 of 2 seeds; the runs export lists the epochs it resumed after, the other seed none."""
    from benchmarks.report import export

    write(tmp_path, *make_record("nin", 0, 0.86, 30_000.0))
    config, record = make_record("nin", 1, 0.88, 30_000.0)
    resumed = dataclasses.replace(record.final, warmup_seconds=2.0, resumed_after_epochs=[1])
    write(tmp_path, config, dataclasses.replace(record, final=resumed))
    row = row_of(render_from(tmp_path), "nin")
    assert "1.5 s 1 of 2 seeds stopped and resumed from a saved epoch in a new process" in row  # median of 1 and 2
    exported = export.row_dicts(summary.groups(records.read_records(tmp_path)), table="runs")
    assert [(r["seed"], r["resumed_after_epochs"]) for r in exported] == [(0, None), (1, "1")]
    (tmp_path / config.file_name()).unlink()
    write(tmp_path, config, record)  # unstopped: no note
    assert "resumed" not in row_of(render_from(tmp_path), "nin")
