"""The table "What the suite promises on failure" (benchmarks/run/README.md), a test per row (the row's number in each test's name).
Each was checked by breaking the promise in the code on purpose: the test fails."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchmarks import cli
from benchmarks.report import leaderboard
from benchmarks.schema import records
from tests.records_by_hand import make_record, write

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--synthetic", "--train-subset", "256", "--test-subset", "128", "--epochs", "1", "--seeds", "0"]


def run_cli(tmp_path, *argv):
    return cli.main(["run", "--out", str(tmp_path / "runs"), *QUICK, *argv])


def files(tmp_path):
    return sorted(p for p in tmp_path.rglob("*") if p.is_file())


# 1. bad arguments: one line, exit 2, nothing written ---------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--arch", "lenet", "--seeds", "-1"], "--seeds: a seed is a non-negative integer, not -1"),
        (["--arch", "lenet", "--seeds", "0", "1", "0"], "--seeds: 0 given twice"),
        (["--arch", "lenet", "--train-subset", "100000"], "--train-subset 100000: the split has 60,000 images"),
        (["--arch", "lenet", "--test-subset", "10001"], "--test-subset 10001: the split has 10,000 images"),
        (["--arch", "lenet", "--max-minutes", "0"], "--max-minutes must be positive"),
        (["--arch", "lenet", "--run-timeout", "-5", "--isolate"], "--run-timeout must be positive"),
        (["--arch", "lenet", "--recipe-set", "warmup_fracton=0.1"], "did you mean warmup_fraction?"),
        (["--arch", "lenet", "--recipe-set", "foo=1"], "no recipe field 'foo'"),
        (["--arch", "zzz*"], "'zzz*' matches no architecture"),
        (["--arch", "lenet", "--epohcs", "3"], "unrecognized argument --epohcs; did you mean --epochs?"),
    ],
)
def test_1_a_bad_argument_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) if "--epohcs" in argv else _nothing() as raised:
        code = run_cli(tmp_path, *argv)
    code = raised.value.code if "--epohcs" in argv else code
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE and message in err and err.count("\n") == 1 and "Traceback" not in err
    assert files(tmp_path) == []


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_1_a_pattern_that_matches_nothing_is_the_same_error_in_list_and_run(tmp_path, capsys):
    assert cli.main(["list", "zzz*"]) == cli.EXIT_USAGE
    listed = capsys.readouterr().err
    assert run_cli(tmp_path, "--arch", "zzz*") == cli.EXIT_USAGE
    assert capsys.readouterr().err == listed and "matches no architecture" in listed


# 2. the data folder: what was found, one line, exit 2 --------------------------------------------------------------


@pytest.mark.parametrize(
    "make, said",
    [
        (lambda d: d.write_text("x"), "a file, not a folder"),
        (lambda d: d.mkdir(), "an empty folder"),
        (lambda d: (d.mkdir(), (d / "notes.txt").write_text("")), "a folder with none of the four files"),
        (lambda d: (d.mkdir(), (d / "t10k-labels-idx1-ubyte.gz").write_bytes(b"")), "1 of the four files; missing"),
        (lambda d: None, "no such folder"),
    ],
)
def test_2_each_data_folder_case_says_what_it_found(tmp_path, capsys, make, said):
    data = tmp_path / "data"
    make(data)
    before = files(tmp_path)
    code = cli.main(["run", "--out", str(tmp_path / "runs"), "--data-dir", str(data), "--arch", "lenet"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE and f"--data-dir {data}: {said}" in err and err.count("\n") == 1
    assert "apt-get install" not in err  # the package is no fix for a folder given by hand
    assert files(tmp_path) == before


# 3. the parent runs no model code: an entry that crashes its process while being sized is a crashed record -------

CRASHY = textwrap.dedent('''
    import os

    from torch import nn

    from archs import register_model


    class Aborts(nn.Module):
        def forward(self, x):
            os.abort()


    @register_model("crashy")  # no input size given: it is discovered by running the network
    def crashy(in_channels=1, num_classes=10):
        """Calls os.abort() in its forward pass."""
        return Aborts()
''')


def test_3_an_entry_that_crashes_while_being_sized_is_crashed_and_the_next_trains(tmp_path):
    module = tmp_path / "crashy_models.py"
    module.write_text(CRASHY)
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "run", "--out", str(tmp_path / "runs"), *QUICK, "--isolate",
         "--import", str(module), "--arch", "crashy", "lenet"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # a run failed; the suite itself did not die (134)
    found = {r.arch: r for r in records.read_records(tmp_path / "runs")}
    assert found["crashy"].status == "crashed" and "SIGABRT" in found["crashy"].error
    assert "input sizes" in found["crashy"].error and found["lenet"].status == "ok"


def test_3_registering_a_model_runs_none_of_its_code(registry_snapshot):
    import archs

    calls = []

    @archs.register_model("counted")
    def counted(in_channels=1, num_classes=10):
        calls.append("built")
        raise AssertionError("the builder ran")

    assert calls == [] and not archs.get_entry("counted", sized=False).sized


# 4. records: never overwritten except by --force; the first finished record stays -------------------------------


def test_4_a_retry_replaces_a_failed_record_but_never_a_finished_one(tmp_path):
    config, ok = make_record("lenet", 0, 0.8, 1000.0)
    path = tmp_path / config.file_name()
    _, error = make_record("lenet", 0, 0.0, 1.0, status="error", error="boom")
    records.write_record(path, error)
    assert records.write_first(path, ok)  # the failed record is retried: replaced
    assert records.read_record(path)[0] == ok
    _, crashed = make_record("lenet", 0, 0.0, 1.0, status="crashed", error="late")
    assert not records.write_first(path, crashed)  # a crashed record never replaces a finished one
    assert records.read_record(path)[0] == ok
    _, other = make_record("lenet", 0, 0.9, 2000.0)
    assert not records.write_first(path, other)  # nor does a second finished one: the first stays, its content too
    assert records.read_record(path)[0] == ok
    assert records.write_first(path, other, force=True) and records.read_record(path)[0] == other  # --force
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # nothing left aside


def test_4_a_failed_isolated_run_does_not_replace_a_record_that_appeared_meanwhile(tmp_path, monkeypatch):
    """The parent writes crashed/timeout records itself; a finished record written meanwhile stays."""
    from benchmarks.run import isolation, local, one
    from benchmarks.run.options import RunOptions

    config, ok = make_record("lenet", 0, 0.8, 1000.0)
    path = tmp_path / config.file_name()

    def child_wrote_then_died(config, path, device, args, replace):
        records.write_record(path, ok)  # e.g. another suite's record, or the child's own before a late signal
        return isolation.Outcome("crashed", 1.0, "killed by SIGKILL", [])

    monkeypatch.setattr(isolation, "run_isolated", child_wrote_then_died)
    monkeypatch.setattr(one, "failed_record", lambda *a, **k: make_record("lenet", 0, 0, 1.0, status="crashed")[1])
    monkeypatch.setattr(local, "failed_record", one.failed_record)
    assert local.run_in_child(config, path, None, "cpu", RunOptions(), force=False) is None
    assert records.read_record(path)[0] == ok


# 5. resume: ok and diverged are skipped; oom, error, crashed and timeout are tried again -------------------------


@pytest.mark.parametrize("status, retried", [("ok", False), ("diverged", False), ("oom", True), ("error", True),
                                             ("crashed", True), ("timeout", True)])  # fmt: skip
def test_5_resume_skips_finished_runs_and_retries_failed_ones(tmp_path, capsys, status, retried):
    assert run_cli(tmp_path, "--arch", "lenet") == 0
    (path,) = (tmp_path / "runs").rglob("*.json")
    record = records.read_record(path)[0]
    import dataclasses

    extra = {"final": None, "error": "x"} if status not in ("ok", "diverged") else {}
    if status == "diverged":
        extra = {"final": None, "diverged_epoch": 1}
    records.write_record(path, dataclasses.replace(record, status=status, **extra), replace=True)
    capsys.readouterr()
    assert run_cli(tmp_path, "--arch", "lenet") == 0
    out = capsys.readouterr().out
    assert ("done already" not in out) == retried
    assert (records.read_record(path)[0].status == "ok") == (retried or status == "ok")


# 6. the leaderboard: a missing or empty records folder is refused, nothing written -------------------------------


@pytest.mark.parametrize("runs", ["missing", "empty", "a-file"])
def test_6_the_leaderboard_refuses_a_folder_without_records_and_writes_nothing(tmp_path, capsys, runs):
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("")
    readme = tmp_path / "README.md"
    readme.write_text(f"x\n{leaderboard.README_START}\nthe table\n{leaderboard.README_END}\n")
    board = tmp_path / "LEADERBOARD.md"
    board.write_text("the old leaderboard\n")
    before = {p: p.read_bytes() for p in files(tmp_path)}
    for command in ("leaderboard", "plots"):
        argv = [command, "--runs", str(tmp_path / runs)]
        argv += ["--out", str(board), "--readme", str(readme)] if command == "leaderboard" else ["--out", str(tmp_path)]
        assert cli.main(argv) == cli.EXIT_USAGE
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "nothing written" in err
    assert {p: p.read_bytes() for p in files(tmp_path)} == before


def test_6_an_empty_folder_is_allowed_when_asked(tmp_path):
    (tmp_path / "runs").mkdir()
    argv = ["leaderboard", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "L.md"), "--readme", "",
            "--allow-empty", "--benchmarks", str(tmp_path / "none")]  # fmt: skip
    assert cli.main(argv) == 0 and "No run records yet" in (tmp_path / "L.md").read_text()


def test_6_failed_runs_show_by_their_status(tmp_path):
    from benchmarks.report import summary

    for seed, status in enumerate(("error", "crashed", "timeout")):
        write(tmp_path, *make_record("lenet", seed, 0.0, 1.0, status=status, error="x"))
    md = leaderboard.render(summary.groups(records.read_records(tmp_path)))
    assert "1 crashed, 1 error, 1 timeout" in md


# 7. output closed early ends quietly -----------------------------------------------------------------------------


def test_7_output_closed_early_ends_quietly():
    done = subprocess.run(f"{sys.executable} -m benchmarks list 'nin*' | head -2", shell=True, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.stderr == "" and len(done.stdout.splitlines()) == 2


def test_1_a_misspelt_command_names_the_closest(capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(["lederboard"])
    err = capsys.readouterr().err
    assert raised.value.code == cli.EXIT_USAGE and err.count("\n") == 1 and "did you mean leaderboard?" in err
