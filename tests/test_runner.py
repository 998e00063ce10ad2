"""The runner through its command line: records, resume, isolation, interruption, bad arguments."""

import dataclasses
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from benchmarks import cli
from benchmarks.measure import machine
from benchmarks.run import local, one, plan
from benchmarks.run import options as run_command
from benchmarks.schema import records
from benchmarks.train.harness import Diverged
from tests.records_by_hand import make_config

QUICK = ["--synthetic", "--train-subset", "256", "--test-subset", "128", "--epochs", "1", "--seeds", "0"]
ROOT = Path(__file__).resolve().parents[1]


def run_cli(tmp_path, *argv):
    return cli.main(["run", "--out", str(tmp_path / "runs"), *QUICK, *argv])


def saved(tmp_path):
    return sorted((tmp_path / "runs").rglob("*.json")) if (tmp_path / "runs").exists() else []


def loaded(path):
    record, problem = records.read_record(path)
    assert problem is None, problem
    return record


def test_a_run_writes_one_complete_record_per_seed(tmp_path):
    assert run_cli(tmp_path, "--arch", "lenet", "--seeds", "0", "1") == 0
    paths = saved(tmp_path)
    assert len(paths) == 2
    record = loaded(paths[0])
    assert record.status == "ok" and record.params == 61_706 and record.final.train_seconds > 0
    assert record.data.source == "synthetic" and record.config.data == "synthetic"
    assert record.config.profile == "cpu" and record.config.recipe.name == "fast"  # the CPU default
    assert record.env["torch"] == torch.__version__ and "hostname" not in record.env
    assert paths[0].parent.name == record.machine == machine.machine_slug("cpu")  # one folder per machine
    assert not list((tmp_path / "runs").rglob(".*"))  # no temporary file left


def test_resume_skips_finished_runs_and_force_reruns_them(tmp_path, capsys):
    assert run_cli(tmp_path, "--arch", "lenet") == 0
    (path,) = saved(tmp_path)
    before = path.read_text()
    assert run_cli(tmp_path, "--arch", "lenet") == 0
    assert "done already" in capsys.readouterr().out
    assert path.read_text() == before
    assert run_cli(tmp_path, "--arch", "lenet", "--force") == 0
    assert path.read_text() != before  # trained again: its clocks differ
    assert len(saved(tmp_path)) == 1


def test_an_interrupted_suite_keeps_finished_records_and_resumes(tmp_path, monkeypatch):
    real_run_one = local.run_one
    calls = []

    def interrupted_second(config, *args, **kwargs):
        calls.append(config.arch)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_run_one(config, *args, **kwargs)

    monkeypatch.setattr(local, "run_one", interrupted_second)
    assert run_cli(tmp_path, "--arch", "lenet", "lenet-bn") == cli.EXIT_SIGINT
    assert [p.name.split("__")[0] for p in saved(tmp_path)] == ["lenet"]
    monkeypatch.setattr(local, "run_one", real_run_one)
    calls.clear()
    monkeypatch.setattr(local, "run_one", lambda c, *a, **k: calls.append(c.arch) or real_run_one(c, *a, **k))
    assert run_cli(tmp_path, "--arch", "lenet", "lenet-bn") == 0
    assert calls == ["lenet-bn"]  # lenet was finished already
    assert len(saved(tmp_path)) == 2


def test_sigterm_keeps_finished_records_and_exits_143(tmp_path):
    out = tmp_path / "runs"
    base = [sys.executable, "-m", "benchmarks", "run", "--out", str(out), "--synthetic", "--arch", "lenet",
            "--train-subset", "512", "--test-subset", "64"]  # fmt: skip
    assert subprocess.run([*base, "--seeds", "0", "--epochs", "1"], cwd=ROOT, capture_output=True).returncode == 0
    command = [*base, "--seeds", "0", "1", "--epochs", "50"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until training has started, then stop it
        line = process.stdout.readline()
        if line.startswith("[2/2]") or not line:
            break
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143
    assert "terminated" in err and "Traceback" not in err
    names = [p.name for p in out.rglob("*")]
    assert not [n for n in names if n.startswith(".")]  # no partial record
    assert len([n for n in names if n.endswith(".json")]) == 2  # the earlier run, and this suite's seed 0
    assert not [n for n in names if "__seed1" in n]


def test_a_diverging_run_is_recorded_and_the_suite_goes_on(tmp_path):
    code = run_cli(tmp_path, "--arch", "nin", "vgg11-small", "--lr", "1e30", "--resolution", "67")
    assert code == 1
    found = [loaded(p) for p in saved(tmp_path)]
    assert sorted(r.arch for r in found) == ["nin", "vgg11-small"]  # the suite went on after the first
    assert all(r.status == "diverged" and r.diverged_epoch == 1 and r.final is None for r in found)


def test_diverged_epoch_comes_from_the_harness(tmp_path, monkeypatch):
    from tests.records_by_hand import make_record

    finished = make_record("lenet", 0, 0.5, 100.0)[1].epochs  # two epochs

    def diverge(*args, **kwargs):
        raise Diverged(3, float("nan"), finished)

    monkeypatch.setattr(one, "train", diverge)
    assert run_cli(tmp_path, "--arch", "lenet") == 1
    record = loaded(saved(tmp_path)[0])
    assert record.status == "diverged" and record.diverged_epoch == 3 and record.epochs == finished


def test_simulated_oom_is_recorded_or_retried_at_half_batch(tmp_path, monkeypatch):
    real_train = one.train
    batch_sizes = []

    def oom_above_64(model, train_loader, *args, **kwargs):
        batch_sizes.append(train_loader.batch_size)
        if train_loader.batch_size > 64:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_train(model, train_loader, *args, **kwargs)

    monkeypatch.setattr(one, "train", oom_above_64)
    assert run_cli(tmp_path, "--arch", "lenet", "lenet-bn", "--recipe", "d2l") == 1  # both need batch 256
    assert {loaded(p).status for p in saved(tmp_path)} == {"oom"}
    batch_sizes.clear()
    assert run_cli(tmp_path, "--arch", "lenet", "--recipe", "d2l", "--oom-retry") == 0  # an oom record is run again
    assert batch_sizes == [256, 128, 64]
    record = loaded(next(p for p in saved(tmp_path) if p.name.startswith("lenet__")))
    assert record.status == "ok" and record.oom_retries == [256, 128] and record.batch_size_used == 64


def test_any_other_exception_is_recorded_as_error(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("cuDNN exploded")

    monkeypatch.setattr(one, "train", broken)
    assert run_cli(tmp_path, "--arch", "lenet", "lenet-bn") == 1
    found = [loaded(p) for p in saved(tmp_path)]
    assert len(found) == 2 and all(r.status == "error" and "cuDNN exploded" in r.error for r in found)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--arch", "lenett"], "unknown architecture 'lenett'; did you mean lenet"),
        (["--arch", "resnext*"], "matches no architecture"),
        (["--arch", "lenet", "--epochs", "0"], "--epochs must be positive"),
        (["--arch", "lenet", "--batch-size", "-4"], "--batch-size must be positive"),
        (["--arch", "lenet", "--lr", "0"], "--lr must be positive"),
        (["--arch", "nin", "--resolution", "32"], "too small for 'nin': the minimum is 67"),
        (["--arch", "lenet", "--device", "tpu"], "--device"),
        (["--arch", "lenet", "--import", "no_such_module_xyz"], "--import no_such_module_xyz"),
        (["--arch", "lenet", "--recipe-set", "smoothing=0.1"], "no recipe field 'smoothing'"),
        (["--arch", "lenet", "--recipe-set", "smoothing"], "expected FIELD=VALUE with FIELD one of"),
        (["--arch", "lenet", "--recipe-set", "flip=maybe"], "flip takes a bool"),
    ],
)
def test_bad_arguments_fail_in_one_line_before_training(tmp_path, capsys, argv, message):
    assert run_cli(tmp_path, *argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert saved(tmp_path) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_missing_cuda_is_a_one_line_error(tmp_path, capsys):
    assert run_cli(tmp_path, "--arch", "lenet", "--device", "cuda") == cli.EXIT_USAGE
    assert "CUDA is not available" in capsys.readouterr().err


def test_unwritable_output_folder_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code = cli.main(["run", "--out", str(blocker / "runs"), *QUICK, "--arch", "lenet"])
    assert code == cli.EXIT_USAGE
    assert "cannot write there" in capsys.readouterr().err


def test_bad_data_is_a_one_line_error_and_writes_no_record(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        (data / name).write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")  # truncated
    code = cli.main(["run", "--out", str(tmp_path / "runs"), "--data-dir", str(data), "--arch", "lenet"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE and "checksum mismatch" in err and err.count("\n") == 1
    assert saved(tmp_path) == []


def _record(seed):
    from tests.records_by_hand import make_record

    return make_record("lenet", seed, 0.8, 1000.0)[1]


def _write_many(folder, worker):
    outcomes = []
    for i in range(15):
        records.write_record(Path(folder) / f"w{worker}-{i}.json", _record(i))
        try:
            records.write_record(Path(folder) / "shared.json", _record(worker))
            outcomes.append("won")
        except records.RecordExists:
            outcomes.append("lost")
    return outcomes


def test_two_concurrent_writers_lose_nothing(tmp_path):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        outcomes = pool.starmap(_write_many, [(tmp_path, 0), (tmp_path, 1)])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 31 and not [n for n in names if n.startswith(".")]
    assert sum(o.count("won") for o in outcomes) == 1  # the shared name was written once, never overwritten
    for path in tmp_path.iterdir():
        loaded(path)  # every file whole and valid


def test_write_record_never_overwrites_without_replace(tmp_path):
    path = tmp_path / "r.json"
    records.write_record(path, _record(1))
    with pytest.raises(records.RecordExists):
        records.write_record(path, _record(2))
    assert loaded(path).config.seed == 1
    records.write_record(path, _record(3), replace=True)
    assert loaded(path).config.seed == 3
    assert os.listdir(tmp_path) == ["r.json"]


def test_config_file_names_are_stable_and_seed_specific():
    a, b = make_config("nin", 0), make_config("nin", 1)
    assert a.run_id() == b.run_id() and a.file_name() != b.file_name()
    assert make_config("nin", 0, lr=0.05).run_id() != a.run_id()
    other_machine = make_config("nin", 0, machine="another-gpu")
    assert other_machine.run_id() != a.run_id() and other_machine.file_name().startswith("another-gpu/")


def test_a_run_stopped_mid_way_resumes_from_its_last_saved_epoch_and_its_state_goes_with_its_record(
    tmp_path, capsys, monkeypatch
):
    """Ctrl-C in epoch 3 of 3 leaves no record and the state after epoch 2; the same command goes on from there and
    ends with the record an unstopped run writes, marked resumed; the state is gone once the record is there;
    --force starts afresh."""
    from benchmarks.train import checkpoint, harness

    monkeypatch.setattr(checkpoint, "EVERY_SECONDS", 0.0)  # a save after every epoch but the last
    real = harness.run_epoch

    def stopped_in_epoch_3(trainer, epoch, *args):
        if epoch == 3:
            raise KeyboardInterrupt
        return real(trainer, epoch, *args)

    argv = ("--arch", "lenet", "--epochs", "3")
    partial = lambda: sorted((tmp_path / "runs").rglob(f"*{checkpoint.SUFFIX}"))  # noqa: E731
    monkeypatch.setattr(harness, "run_epoch", stopped_in_epoch_3)
    assert run_cli(tmp_path, *argv) == 130
    assert saved(tmp_path) == [] and len(partial()) == 1
    monkeypatch.setattr(harness, "run_epoch", real)
    capsys.readouterr()
    assert run_cli(tmp_path, *argv) == 0
    assert "resumed after epoch 2/3" in capsys.readouterr().out
    (path,) = saved(tmp_path)
    record = loaded(path)
    assert record.final.resumed_after_epochs == [2] and partial() == []
    assert cli.main(["run", "--out", str(tmp_path / "unstopped"), *QUICK, *argv]) == 0
    (unstopped,) = sorted((tmp_path / "unstopped").rglob("*.json"))
    figures = lambda r: [(e.train_loss, e.train_acc, e.test_acc) for e in r.epochs]  # noqa: E731
    assert figures(record) == figures(loaded(unstopped))
    monkeypatch.setattr(harness, "run_epoch", stopped_in_epoch_3)
    assert run_cli(tmp_path, *argv, "--force") == 130 and len(partial()) == 1
    monkeypatch.setattr(harness, "run_epoch", real)
    capsys.readouterr()
    assert run_cli(tmp_path, *argv, "--force") == 0
    assert "resumed" not in capsys.readouterr().out and loaded(path).final.resumed_after_epochs == []


def test_max_minutes_stops_before_a_run_that_would_overrun_and_resumes(tmp_path, capsys, monkeypatch):
    assert run_cli(tmp_path, "--arch", "lenet", "--seeds", "0") == 0
    (first,) = saved(tmp_path)
    record = loaded(first)
    slow = dataclasses.replace(record, final=dataclasses.replace(record.final, wall_seconds=600.0))
    records.write_record(first, slow, replace=True)  # this configuration takes 10 minutes, by the records
    capsys.readouterr()
    assert run_cli(tmp_path, "--arch", "lenet", "--seeds", "0", "1", "--max-minutes", "5") == 0
    out = capsys.readouterr().out
    assert "lenet seed 1: needs about 600 s" in out and "Run the same command to resume" in out
    assert len(saved(tmp_path)) == 1  # seed 1 was not started
    assert run_cli(tmp_path, "--arch", "lenet", "--seeds", "0", "1", "--max-minutes", "20") == 0
    assert len(saved(tmp_path)) == 2  # the same command with room for it resumes and trains seed 1


def test_the_budget_scales_from_other_configurations_on_this_machine():
    from benchmarks.run import budget
    from tests.records_by_hand import make_config, make_record

    _, done = make_record("nin", 0, 0.8, 100.0)  # 1.52 GFLOP, 60,000 + 10,000 examples, 2 epochs, 100 s wall
    config = make_config("nin", 0, epochs=4, lr=0.05)  # another configuration: twice the epochs
    assert budget.estimate_seconds(config, [done]) == pytest.approx(200.0, rel=0.01)
    assert budget.estimate_seconds(make_config("nin", 0, machine="elsewhere"), [done]) is None


def test_the_cpu_default_profile_plans_its_entries_seeds_and_recipe():
    """The cpu profile as the README states it: the nine required entries and nin-stepped, seeds 0-2 (NiN's family,
    the six entries on nin's budget, seeds 0-4), the fast recipe, and each entry's budget (epochs, training images,
    input side) by the rule of about 100 s a seed on the 2-core AVX2 CPU; NiN's ablations on nin's budget."""
    import argparse

    parser = argparse.ArgumentParser()
    run_command.add_arguments(parser)
    args = parser.parse_args(["--device", "cpu"])
    planned = plan.plan(run_command.from_args(args))
    nin = (1, 33_000, 67)
    expected = {
        "lenet": (10, None, 28), "alexnet": (1, 11_000, 65), "vgg11-small": (1, 14_000, 64), "vgg11": (1, 5_000, 32),
        "nin": nin, "nin-no-1x1": nin, "nin-one-1x1": nin, "nin-no-dropout": nin, "nin-fc-head": nin,
        "nin-stepped": nin,
    }  # fmt: skip
    assert {c.profile for c in planned.configs} == {"cpu"}
    seeds = {a: range(5) if a.startswith("nin") else range(3) for a in expected}
    assert sorted((c.arch, c.seed) for c in planned.configs) == sorted((a, s) for a in expected for s in seeds[a])
    assert {c.arch: (c.epochs, c.train_subset, c.resolution) for c in planned.configs} == expected
    assert {c.recipe.name for c in planned.configs} == {"fast"} and {c.test_subset for c in planned.configs} == {None}
    assert {c.recipe.evals_per_epoch for c in planned.configs} == {2}
    text = plan.describe_plan(planned, run_command.from_args(args))
    assert "budget rule: about 100 s of training a seed" in text and "nin-stepped seed 4" in text
    assert (
        "vgg11 seed 0: fast recipe, 1 epochs, batch 64, muon lr 0.02 on the filters, adamw lr 0.001 on the rest, "
        "32 px, train 5000"
    ) in text
    five = plan.plan(run_command.from_args(parser.parse_args(["--device", "cpu", "--arch", "nin", "--seeds", "7"])))
    assert [c.seed for c in five.configs] == [7]  # --seeds wins over the budget's seeds
    named = plan.plan(run_command.from_args(parser.parse_args(["--device", "cpu", "--arch", "lenet", "--recipe", "d2l",
                                                             "--seeds", "4", "--epochs", "2"])))  # fmt: skip
    (config,) = named.configs
    assert (config.recipe.name, config.seed, config.epochs, config.train_subset) == ("d2l", 4, 2, None)


def test_the_plan_prints_each_runs_estimate_and_the_total_and_the_suite_ends_with_a_summary(tmp_path, capsys):
    assert run_cli(tmp_path, "--arch", "lenet", "--seeds", "0") == 0
    (first,) = saved(tmp_path)
    record = loaded(first)
    records.write_record(first, dataclasses.replace(record, final=dataclasses.replace(record.final, wall_seconds=200.0)),
                         replace=True)  # fmt: skip
    capsys.readouterr()
    assert run_cli(tmp_path, "--arch", "lenet", "nin", "--seeds", "0", "1", "--max-minutes", "1") == 0
    out = capsys.readouterr().out
    # lenet's configuration took 200 s by its record: each seed's estimate; nin has no record of its FLOPs
    assert out.count("lenet seed 0: fast recipe") == 1 and "about 3.3 min" in out
    assert "nin seed 0: fast recipe" in out and "no estimate" in out
    assert "estimated total: about 6.7 min by this machine's records, and 2 run(s) with no estimate" in out
    last = out.strip().splitlines()[-1]
    # lenet seed 1 would overrun: not started; the runs after it (nin, no estimate) still train
    assert last.startswith("suite done in ") and "2 ok, 1 not started, 1 skipped" in last
    assert f"records in {tmp_path / 'runs'}" in last and f"leaderboard --runs {tmp_path / 'runs'}" in last


def test_each_runs_line_says_its_estimate_and_the_time_left_as_the_finished_runs_give_them(tmp_path, capsys):
    assert run_cli(tmp_path, "--arch", "lenet", "--seeds", "0") == 0
    assert "[1/1] lenet seed 0\n" in capsys.readouterr().out  # no record of this machine: no estimate, none said
    (first,) = saved(tmp_path)
    record = loaded(first)
    records.write_record(first, dataclasses.replace(record, final=dataclasses.replace(record.final, wall_seconds=200.0)),
                         replace=True)  # fmt: skip
    assert run_cli(tmp_path, "--arch", "lenet", "--seeds", "0", "1", "2") == 0
    out = capsys.readouterr().out
    # seed 0 is done; seed 1 by seed 0's 200 s (3.3 min: minutes from 90 s), two runs left: 400 s
    assert "[2/3] lenet seed 1 (about 3.3 min; 2 run(s) left, about 6.7 min by this machine's records)\n" in out
    seed1 = next(loaded(p) for p in saved(tmp_path) if "__seed1" in p.name)
    middle = (200.0 + seed1.final.wall_seconds) / 2  # the median of the two finished seeds
    assert middle >= 90  # said in minutes
    assert f"[3/3] lenet seed 2 (about {middle / 60:.1f} min; 1 run(s) left, about {middle / 60:.1f} min by this" in out


def test_a_rank_that_runs_its_share_says_its_runs_estimate_only():
    from types import SimpleNamespace

    from benchmarks.run.launcher import Suite
    from tests.records_by_hand import make_config, make_record

    _, done = make_record("nin", 0, 0.8, 100.0)
    configs = [make_config("nin", s) for s in (1, 2, 3)]
    suite = Suite(SimpleNamespace(configs=configs), Path("/nonexistent"), SimpleNamespace(ddp=False, force=False),
                  0.0, SimpleNamespace(active=False), finished=[done])  # fmt: skip
    said = local.progress(1, configs[0], suite)  # each 100 s by the record of its configuration: 300 s for three
    assert said == " (about 1.7 min; 3 run(s) left, about 5.0 min by this machine's records)"  # minutes from 90 s
    suite.world = SimpleNamespace(active=True)  # torchrun deals the runs out: the others are other ranks'
    assert local.progress(1, configs[0], suite) == " (about 1.7 min by this machine's records)"
    assert local.progress(1, make_config("nin", 1, machine="elsewhere"), suite) == ""
    suite.world = SimpleNamespace(active=False)
    suite.finished.append(make_record("nin", 3, 0.8, 100.0)[1])  # seed 3 finished (by another suite): not left
    assert (
        local.progress(1, configs[0], suite)
        == " (about 1.7 min; 2 run(s) left, about 3.3 min by this machine's records)"
    )


def test_a_stopped_runs_line_counts_only_the_epochs_its_checkpoint_leaves(tmp_path):
    """Seed 1 stopped after epoch 1 of 2: its line and the time left count its epoch left at its saved epoch's pace
    and one warm-up (45 s), not its 100 s; --force (a fresh start) and --ddp (no checkpoints) count the whole run."""
    from types import SimpleNamespace

    import torch

    from benchmarks.measure import machine
    from benchmarks.run.launcher import Suite
    from benchmarks.train import checkpoint
    from tests.records_by_hand import make_config, make_record

    _, done = make_record("nin", 0, 0.8, 100.0)
    configs = [make_config("nin", s) for s in (1, 2, 3)]
    stopped = checkpoint.path_for(tmp_path / configs[0].file_name())
    stopped.parent.mkdir(parents=True)
    key = checkpoint.key(configs[0], configs[0].batch_size, machine.git_state())  # the key its run saves under
    saved = {"epochs": [{"wall_seconds": 41.0}], "segments": {"warmup_seconds": 4.0, "resumed_after": []}}
    torch.save({"key": key, **saved}, stopped)  # one epoch of two, 41 s, after 4 s of warm-up: 45 s left
    args = SimpleNamespace(ddp=False, force=False)
    suite = Suite(SimpleNamespace(configs=configs), tmp_path, args, 0.0, SimpleNamespace(active=False),
                  finished=[done])  # fmt: skip
    assert (
        local.progress(1, configs[0], suite) == " (about 45 s; 3 run(s) left, about 4.1 min by this machine's records)"
    )
    assert (
        local.progress(2, configs[1], suite)
        == " (about 1.7 min; 2 run(s) left, about 3.3 min by this machine's records)"
    )
    for flag in ("force", "ddp"):
        suite.args = SimpleNamespace(**{**vars(args), flag: True})
        assert local.progress(1, configs[0], suite).startswith(" (about 1.7 min; 3 run(s) left, about 5.0 min")


def test_a_checkpoint_counts_in_the_time_left_exactly_when_its_run_would_resume_from_it(tmp_path):
    """The estimate discounts the saved epochs of a checkpoint that the run's own load accepts (its configuration
    and commit, at its batch or at the half an out-of-memory retry trains at), and of no other: a checkpoint left by
    another commit, or another configuration's at the same path, would be ignored by the run, which starts afresh."""
    import dataclasses

    from benchmarks.measure import machine
    from benchmarks.run import budget
    from benchmarks.train import checkpoint
    from tests.records_by_hand import make_config

    config = make_config("nin", 1)
    record = tmp_path / config.file_name()
    here = machine.git_state()
    saved_by = {
        "this run": (config, config.batch_size, here),
        "this run, retried at half its batch": (config, config.batch_size // 2, here),
        "another commit": (config, config.batch_size, {**here, "commit": "0" * 40}),
        "a tree with other changes": (config, config.batch_size, {**here, "dirty": not here["dirty"]}),
        "another learning rate": (dataclasses.replace(config, lr=config.lr / 2), config.batch_size, here),
    }
    counted = {}
    for who, (saved_config, batch, git) in saved_by.items():
        key = checkpoint.key(saved_config, batch, git)
        saved = {"epochs": [{"wall_seconds": 30.0}], "segments": {"warmup_seconds": 2.0, "resumed_after": []}}
        checkpoint.Checkpoint(checkpoint.path_for(record), key).save(saved)  # epoch 1 of 2: 32 s left
        run_loads = any(checkpoint.Checkpoint(checkpoint.path_for(record), checkpoint.key(config, b, here)).load()
                        for b in (config.batch_size, config.batch_size // 2))  # fmt: skip
        counted[who] = (budget.still_to_run(config, 100.0, record), run_loads)
    assert counted == {
        "this run": (32.0, True),
        "this run, retried at half its batch": (32.0, True),
        "another commit": (100.0, False),
        "a tree with other changes": (100.0, False),
        "another learning rate": (100.0, False),
    }


def test_a_stopped_runs_time_left_is_its_saved_epochs_pace_and_one_warm_up_whatever_the_estimate(tmp_path):
    """A run of 10 epochs stopped twice, its checkpoint holding epochs of 20, 22, 24 and 26 s (mean 23 s) and 9 s
    of warm-up over its two processes: 6 epochs left at 23 s and one warm-up of 4.5 s, 142.5 s, whether the entry's
    estimate from other records says 1,000 s or has none (no record has its FLOPs: VGG-11 on a lent GPU's second
    command); with no epoch saved, the estimate as it is."""
    from benchmarks.measure import machine
    from benchmarks.run import budget
    from benchmarks.train import checkpoint
    from tests.records_by_hand import make_config

    config = make_config("vgg11", 0, epochs=10)
    record = tmp_path / config.file_name()
    state = checkpoint.Checkpoint(checkpoint.path_for(record), checkpoint.key(config, 128, machine.git_state()))
    epochs = [{"wall_seconds": s} for s in (20.0, 22.0, 24.0, 26.0)]
    state.save({"epochs": epochs, "segments": {"warmup_seconds": 9.0, "resumed_after": [2]}})
    assert budget.still_to_run(config, 1000.0, record) == pytest.approx(142.5)
    assert budget.still_to_run(config, None, record) == pytest.approx(142.5)
    state.save({"epochs": [], "segments": {"warmup_seconds": 3.0, "resumed_after": []}})
    assert budget.still_to_run(config, 1000.0, record) == 1000.0 and budget.still_to_run(config, None, record) is None


def test_the_budget_counts_every_evaluation_and_the_optimizers_own_flops():
    """A run's work, derived by hand: 1.52 GFLOP (NiN at 224 px) x (3 x 60,000 trained + 10,000 evaluated x the
    evaluations an epoch) x 2 epochs, plus the optimizer's FLOPs x its 2 x 469 steps (60,000 / 128, rounded up).
    The record (one evaluation an epoch, SGD) ran 100 s with 1 s of warm-up: 99 s of work at its rate."""
    from benchmarks.run import budget
    from benchmarks.schema.recipe import D2L
    from tests.records_by_hand import make_config, make_record

    _, done = make_record("nin", 0, 0.8, 100.0)
    flops = done.flops
    rate = 99.0 / (flops * 190_000 * 2)
    four = make_config("nin", 0, lr=0.05, recipe=dataclasses.replace(D2L, evals_per_epoch=4))
    assert budget.estimate_seconds(four, [done]) == pytest.approx(rate * flops * 220_000 * 2 + 1.0, rel=1e-6)
    muon = make_config("nin", 0, lr=0.05, optimizer="muon")
    step = 15e9  # a step's optimizer FLOPs, as a caller counts them (Muon's iterations on NiN: about 15 GFLOP)
    counted = budget.estimate_seconds(muon, [done], step_flops=lambda c: step if c.optimizer == "muon" else 0)
    assert counted == pytest.approx(rate * (flops * 190_000 * 2 + step * 2 * 469) + 1.0, rel=1e-6)
    # a record of nin under Muon says its optimizer's FLOPs a step: they are counted without a caller's count
    _, muon_done = make_record("nin", 0, 0.8, 100.0)
    muon_done = dataclasses.replace(muon_done, config=dataclasses.replace(muon_done.config, optimizer="muon",
                                                                          lr=0.2), optimizer_flops=int(step))  # fmt: skip
    from_record = budget.estimate_seconds(muon, [done, muon_done])
    muon_rate = 99.0 / (flops * 190_000 * 2 + step * 2 * 469)  # the Muon record's own work counts its steps too
    expected = statistics.median([rate, muon_rate]) * (flops * 190_000 * 2 + step * 2 * 469) + 1.0
    assert from_record == pytest.approx(expected, rel=1e-6)


def test_the_budget_scales_by_the_entrys_own_rate_before_any_other_entrys():
    """LeNet's rate per FLOP is not NiN's (a small network is bound by its steps, not its FLOPs): a NiN estimate
    scales from NiN's record where there is one, and from the others' only where there is none."""
    from benchmarks.run import budget
    from tests.records_by_hand import make_config, make_record

    _, nin = make_record("nin", 0, 0.8, 100.0)  # 100 s wall
    _, lenet = make_record("lenet", 0, 0.8, 100.0)
    lenet = dataclasses.replace(lenet, final=dataclasses.replace(lenet.final, wall_seconds=1000.0))
    twice = make_config("nin", 0, epochs=4, lr=0.05)
    assert budget.estimate_seconds(twice, [lenet, nin]) == pytest.approx(200.0, rel=0.01)  # nin's, not the median
    vgg = make_config("vgg11-small", 0, epochs=4, lr=0.05)
    _, vgg_done = make_record("vgg11-small", 1, 0.8, 100.0)  # gives the FLOPs only: another machine's
    vgg_done = dataclasses.replace(vgg_done, config=dataclasses.replace(vgg_done.config, machine="elsewhere"))
    mixed = budget.estimate_seconds(vgg, [lenet, nin, vgg_done])
    rates = [(r.final.wall_seconds - 1.0) / (r.flops * 190_000 * 2) for r in (lenet, nin)]
    assert mixed == pytest.approx(statistics.median(rates) * vgg_done.flops * 190_000 * 4 + 1.0, rel=1e-6)


def test_an_entry_without_records_scales_from_the_two_entries_nearest_in_flops():
    """A new entry (VGG-11 at 224 px, 7.6 GFLOP an example) on a machine with records of NiN (1.52 GFLOP, 5x
    fewer), AlexNet (0.94, 8x fewer) and LeNet twice (833 kFLOP, bound by its steps): its rate is the median of
    NiN's and AlexNet's, not of all four, which LeNet's two would pull 10x up."""
    from benchmarks.run import budget
    from tests.records_by_hand import make_config, make_record

    _, nin = make_record("nin", 0, 0.8, 100.0)  # 100 s wall, 1 s of it warm-up
    _, alexnet = make_record("alexnet", 0, 0.8, 100.0)
    alexnet = dataclasses.replace(alexnet, flops=940_000_000,
                                  final=dataclasses.replace(alexnet.final, wall_seconds=151.0))  # fmt: skip
    lenets = [make_record("lenet", seed, 0.8, 100.0)[1] for seed in (0, 1)]
    lenets = [dataclasses.replace(r, final=dataclasses.replace(r.final, wall_seconds=1000.0)) for r in lenets]
    vgg = make_config("vgg11", 0, epochs=4, lr=0.05)
    flops = 7_600_000_000
    # each record: 2 epochs of 3 x 60,000 trained + 10,000 evaluated examples, its wall time less 1 s of warm-up
    nin_rate, alexnet_rate = 99.0 / (nin.flops * 190_000 * 2), 150.0 / (940_000_000 * 190_000 * 2)
    expected = (nin_rate + alexnet_rate) / 2 * flops * 190_000 * 4 + 1.0
    assert budget.estimate_seconds(vgg, [nin, alexnet, *lenets], flops=flops) == pytest.approx(expected, rel=1e-6)


def test_a_new_machines_entry_takes_another_machines_time_of_the_same_work_scaled_by_the_works_both_ran():
    """A machine that has run LeNet, AlexNet and NiN-no-1x1 but not NiN: NiN's estimate is its time on each other
    machine that ran the same work, times this machine's time against that one's on the two works both ran nearest
    to NiN in FLOPs (NiN-no-1x1 and AlexNet, not LeNet, bound by its steps), the median over those machines; a
    machine that ran it on another device, or another configuration of it, is no such machine; and an entry with a
    record of its own here scales from its own rate, as before."""
    from benchmarks.run import budget
    from tests.records_by_hand import make_config, make_record

    def done(arch, machine, wall, flops=None, **changes):
        _, r = make_record(arch, 0, 0.8, 100.0, machine=machine)
        r = dataclasses.replace(r, config=dataclasses.replace(r.config, **changes), flops=flops or r.flops,
                                final=dataclasses.replace(r.final, wall_seconds=wall))  # fmt: skip
        return r

    alexnet = 940_000_000
    here = [done("lenet", "here", 100.0), done("alexnet", "here", 200.0, alexnet), done("nin-no-1x1", "here", 200.0)]
    # elsewhere: LeNet 10x faster, AlexNet 2x, NiN-no-1x1 4x; the nearest two give 3x, LeNet's would make it 4x
    elsewhere = [done("lenet", "b", 10.0), done("alexnet", "b", 100.0, alexnet), done("nin-no-1x1", "b", 50.0),
                 done("nin", "b", 300.0)]  # fmt: skip
    nin = make_config("nin", 0, machine="here")
    assert budget.estimate_seconds(nin, here + elsewhere) == pytest.approx(300.0 * 3)
    # a second machine, 2x slower than this one on both works nearest to NiN: NiN 50 s there -> 25 s here
    third = [done("alexnet", "c", 400.0, alexnet), done("nin-no-1x1", "c", 400.0), done("nin", "c", 50.0)]
    assert budget.estimate_seconds(nin, here + elsewhere + third) == pytest.approx((900.0 + 25.0) / 2)
    # NiN on another device, or with other epochs, is not the same work: the rates of the two entries nearest in
    # FLOPs here, as before (each 199 s of work past its 1 s warm-up, NiN-no-1x1 at NiN's FLOPs, AlexNet at 940 M)
    apart = [done("nin", "c", 50.0, device="cpu"), done("nin", "d", 50.0, epochs=3)]
    by_rates = (199.0 + 199.0 * 1_524_594_704 / alexnet) / 2 + 1.0
    assert budget.estimate_seconds(nin, here + apart + [r for r in third if r.arch != "nin"]) == pytest.approx(by_rates)
    # with a record of its own here (another configuration: twice the epochs, 400 s), NiN scales from its own rate
    own = done("nin", "here", 401.0, epochs=4, lr=0.05)
    assert budget.estimate_seconds(nin, here + elsewhere + [own]) == pytest.approx(201.0)


def test_the_budget_needs_no_model_code(monkeypatch):
    """The estimate takes a run's FLOPs from a record of the same entry and input size, never from its network."""
    import archs
    from benchmarks.run import budget
    from tests.records_by_hand import make_record

    monkeypatch.setattr(archs, "get_model", lambda *a, **k: pytest.fail("the parent built a model"))
    _, done = make_record("nin", 0, 0.8, 100.0)
    assert budget.estimate_seconds(make_config("nin", 0, epochs=4, lr=0.05), [done]) == pytest.approx(200.0, rel=0.01)
    assert budget.estimate_seconds(make_config("nin", 0, epochs=4, resolution=96), [done]) is None  # no FLOPs known


def test_long_epochs_print_their_in_epoch_evaluations(tmp_path, capsys):
    assert run_cli(tmp_path, "--arch", "lenet", "--train-subset", "2048", "--batch-size", "64",
                   "--recipe-set", "evals_per_epoch=4") == 0  # fmt: skip
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.strip().startswith("epoch 0.")]
    assert [line.split(":")[0].strip() for line in lines] == ["epoch 0.25", "epoch 0.50", "epoch 0.75"]
    assert "after 512 examples" in lines[0]


def test_five_compiled_runs_in_one_process_each_compile_their_own_graphs(tmp_path):
    """torch.compile's recompile limit (8 graphs per code object) once made the third run of a process train eager
    under a record that said compiled; each run now starts from a fresh dynamo state and records its graphs."""
    assert run_cli(tmp_path, "--arch", "lenet", "--compile", "--profile", "smoke", "--seeds", "0", "1", "2", "3",
                   "4") == 0  # fmt: skip
    found = [loaded(p) for p in saved(tmp_path)]
    assert len(found) == 5
    for record in found:
        assert record.final.graphs_compiled_in_warmup > 0 and record.final.graphs_compiled_in_timed == 0
        assert record.final.compile_cache in ("cold", "warm") and record.final.tta_clock == "steps"


def test_a_runs_record_carries_its_optimizers_flops_a_step_as_torchs_flop_counter_counts_them(tmp_path):
    """A Muon run (the fast recipe) records its Newton-Schulz FLOPs a step, as torch.utils.flop_counter counts one
    real step of LeNet's filters; an SGD run (d2l's recipe) records none."""
    from tests.counted_by_torch import muon_step_flops

    assert run_cli(tmp_path, "--arch", "lenet", "--recipe", "fast") == 0
    assert run_cli(tmp_path / "d2l", "--arch", "lenet", "--recipe", "d2l") == 0
    (muon,), (sgd,) = saved(tmp_path), saved(tmp_path / "d2l")
    assert loaded(muon).config.optimizer == "muon" and loaded(sgd).config.optimizer == "sgd"
    assert loaded(muon).optimizer_flops == muon_step_flops("lenet") > 0
    assert loaded(sgd).optimizer_flops == 0
