"""``python -m benchmarks compare A B``: both figures per shared configuration, changes judged against the
records' own intervals and noise, and nothing else reported."""

import dataclasses
import subprocess

from benchmarks import cli
from tests.records_by_hand import make_record, write


def two_arms(folder, nin_eps=30_000.0, lenet_shift=0.0):
    """lenet and nin, three seeds each, a little spread in both accuracy and throughput."""
    for seed in range(3):
        write(folder, *make_record("lenet", seed, 0.80 + seed / 100 + lenet_shift, 80_000.0 + 500 * seed))
        write(folder, *make_record("nin", seed, 0.86 + seed / 100, nin_eps + 300 * seed))


def compare(capsys, a, b):
    assert cli.main(["compare", str(a), str(b)]) == 0
    return capsys.readouterr().out


def row(out, label):
    return next(line for line in out.splitlines() if line.startswith(f"| {label} "))


def test_a_throughput_change_is_flagged_and_nothing_else(tmp_path, capsys):
    two_arms(tmp_path / "a")
    two_arms(tmp_path / "b", nin_eps=45_000.0)  # nin 1.5x faster on purpose
    out = compare(capsys, tmp_path / "a", tmp_path / "b")
    assert "2 configuration(s) in both, 1 changed: nin · full · bf16." in out
    nin = row(out, "nin")
    assert "1.50x" in nin and "**differs**" in nin and "same within CI" in nin  # accuracy untouched
    lenet = row(out, "lenet")
    assert "**differs**" not in lenet and "1.00x" in lenet and "within noise" in lenet
    assert "only in" not in out


def test_an_accuracy_change_beyond_its_interval_is_flagged(tmp_path, capsys):
    from scipy import stats

    two_arms(tmp_path / "a")
    two_arms(tmp_path / "b", lenet_shift=0.05)
    out = compare(capsys, tmp_path / "a", tmp_path / "b")
    welch = stats.ttest_ind([0.85, 0.86, 0.87], [0.80, 0.81, 0.82], equal_var=False).confidence_interval(0.95)
    lenet = row(out, "lenet")
    assert f"+5.0 pp [{welch.low * 100:+.1f}, {welch.high * 100:+.1f}]" in lenet and "**differs**" in lenet
    assert "1 changed: lenet · full · bf16." in out


def test_one_seed_a_side_gives_no_verdict(tmp_path, capsys):
    write(tmp_path / "a", *make_record("lenet", 0, 0.80, 80_000.0))
    write(tmp_path / "b", *make_record("lenet", 0, 0.90, 40_000.0))
    out = compare(capsys, tmp_path / "a", tmp_path / "b")
    lenet = row(out, "lenet")
    assert "0.50x" in lenet and "unknown (1 seed)" in lenet and "needs 2 learned seeds a side" in lenet
    assert "0 changed" in out


def test_configurations_on_one_side_are_named(tmp_path, capsys):
    two_arms(tmp_path / "a")
    for seed in range(3):
        write(tmp_path / "b", *make_record("lenet", seed, 0.80 + seed / 100, 80_000.0 + 500 * seed))
    out = compare(capsys, tmp_path / "a", tmp_path / "b")
    assert "1 configuration(s) in both, 0 changed." in out and "only in A: nin · full · bf16" in out


def test_a_bf16_run_is_set_against_an_fp32_one_only_when_asked_and_otherwise_nothing_matches_and_says_why(
    tmp_path, capsys
):  # fmt: skip
    """A throughput ratio across precisions measures the precision, not a change: by default such configurations
    do not pair, the command says why and exits 1; --across-compute-paths pairs them, both precisions labelled."""
    two_arms(tmp_path / "a")
    for seed in range(3):
        config, record = make_record("lenet", seed, 0.80 + seed / 100, 160_000.0 + 1000 * seed, machine="gpu-b")
        config = dataclasses.replace(config, fast=dataclasses.replace(config.fast, precision="fp32"))
        write(tmp_path / "b", config, dataclasses.replace(record, config=config))
    assert cli.main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    out = capsys.readouterr().out
    assert "0 configuration(s) in both" in out and "not in compute path (A: full bf16; B: full fp32)" in out
    assert "2.00x" not in out
    assert cli.main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--across-compute-paths"]) == 0
    out = capsys.readouterr().out
    assert row(out, "lenet · full · bf16 / fp32")
    assert "2.00x" in out and "1 configuration(s) in both" in out


def test_two_sides_that_share_no_recipe_say_so(tmp_path, capsys):
    two_arms(tmp_path / "a")
    for seed in range(3):
        write(tmp_path / "b", *make_record("lenet", seed, 0.8, 80_000.0, epochs=7))
    assert cli.main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    assert "they share no entry trained on the same recipe, budget and data" in capsys.readouterr().out


def test_a_commit_is_read_from_git_without_touching_the_work_tree(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = lambda *a: subprocess.run(["git", *a], check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    run("config", "user.email", "t@t")
    run("config", "user.name", "t")
    two_arms(tmp_path / "results" / "runs")
    run("add", "results")
    run("commit", "-qm", "records")
    for path in (tmp_path / "results" / "runs").rglob("nin__*.json"):
        path.unlink()
    two_arms(tmp_path / "faster", nin_eps=60_000.0)
    out = compare(capsys, "HEAD", tmp_path / "faster")
    assert "1 changed: nin · full · bf16." in out
    assert not any((tmp_path / "results" / "runs").rglob("nin__*.json"))  # the work tree as it was


def test_a_source_that_is_nothing_is_one_line_and_exit_2(tmp_path, capsys):
    two_arms(tmp_path / "a")
    assert cli.main(["compare", str(tmp_path / "a"), "no-such-thing"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-such-thing: not a records folder" in err
