"""--isolate: one process per run; a crash or a hang ends that run alone; signals stop the child and the suite."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from benchmarks import cli
from benchmarks.schema import records

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--synthetic", "--train-subset", "128", "--test-subset", "64", "--epochs", "1", "--isolate", "--seeds", "0"]

TROUBLE = textwrap.dedent('''
    import os
    import time

    from torch import nn

    from archs import register_model


    class Aborts(nn.Module):
        def forward(self, x):
            os.abort()


    class Sleeps(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(28 * 28, 10)

        def forward(self, x):
            time.sleep(float(os.environ.get("SLEEPS_SECONDS", "0")))
            return self.linear(x.flatten(1))


    @register_model("aborts", input_size=28, min_input_size=28, max_input_size=28)
    def aborts(in_channels=1, num_classes=10):
        """Calls os.abort() in its forward pass."""
        return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10), Aborts())


    @register_model("sleeps", input_size=28, min_input_size=28, max_input_size=28)
    def sleeps(in_channels=1, num_classes=10):
        """Sleeps $SLEEPS_SECONDS in each forward pass."""
        return Sleeps()
''')


@pytest.fixture
def trouble(tmp_path, registry_snapshot):
    """The troublesome entries, registered in this process for the test's length (the children import them)."""
    module = tmp_path / "trouble.py"
    module.write_text(TROUBLE)
    yield str(module)
    sys.modules.pop("_user_models_trouble", None)


def found(tmp_path):
    return {r.arch: r for r in records.read_records(tmp_path / "runs")}


def run(tmp_path, *argv):
    return cli.main(["run", "--out", str(tmp_path / "runs"), *QUICK, *argv])


def test_a_run_that_aborts_is_crashed_and_the_next_one_trains(tmp_path, trouble, capsys):
    assert run(tmp_path, "--import", trouble, "--arch", "aborts", "lenet") == 1
    by_arch = found(tmp_path)
    crashed, ok = by_arch["aborts"], by_arch["lenet"]
    assert crashed.status == "crashed" and "SIGABRT" in crashed.error and crashed.final is None
    assert crashed.run_seconds > 0 and crashed.output_tail  # the last lines the child printed
    assert ok.status == "ok" and ok.final.test_acc >= 0
    assert "crashed" in capsys.readouterr().out


def test_a_run_past_its_time_limit_is_timeout_and_is_retried(tmp_path, trouble, monkeypatch):
    monkeypatch.setenv("SLEEPS_SECONDS", "60")
    assert run(tmp_path, "--import", trouble, "--arch", "sleeps", "--run-timeout", "8") == 1
    record = found(tmp_path)["sleeps"]
    assert record.status == "timeout" and "--run-timeout 8" in record.error and 8 <= record.run_seconds < 40
    monkeypatch.setenv("SLEEPS_SECONDS", "0")
    assert run(tmp_path, "--import", trouble, "--arch", "sleeps", "--run-timeout", "120") == 0  # retried
    assert found(tmp_path)["sleeps"].status == "ok"


def test_run_timeout_without_isolation_is_a_usage_error(tmp_path, capsys):
    argv = [
        "run",
        "--out",
        str(tmp_path),
        "--synthetic",
        "--arch",
        "lenet",
        "--seeds",
        "0",
        "--no-isolate",
        "--run-timeout",
        "5",
    ]
    assert cli.main(argv) == cli.EXIT_USAGE
    assert "--run-timeout needs --isolate" in capsys.readouterr().err


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "zombie" in status.read_text())


@pytest.mark.parametrize("sig, code, said", [(signal.SIGINT, cli.EXIT_SIGINT, "interrupted"),
                                             (signal.SIGTERM, cli.EXIT_SIGTERM, "terminated")])  # fmt: skip
def test_a_signal_stops_the_childs_group_and_the_suite_and_the_same_command_resumes(tmp_path, trouble, sig, code,
                                                                                     said):  # fmt: skip
    out = tmp_path / "runs"
    command = [sys.executable, "-m", "benchmarks", "run", "--out", str(out), *QUICK, "--import", trouble,
               "--arch", "lenet", "sleeps"]  # fmt: skip
    env = {**os.environ, "SLEEPS_SECONDS": "30", "PYTHONUNBUFFERED": "1"}
    # SIGINT as a terminal delivers it: a process started in the background of a shell without job control
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler
    parent = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    child = None
    deadline = time.monotonic() + 120
    seen = []
    while time.monotonic() < deadline:  # wait until the second run's child is training (it sleeps), then Ctrl-C
        line = parent.stdout.readline()
        seen.append(line)
        if not line:
            break
        if "(process" in line and any(s.startswith("[2/2]") for s in seen):
            child = int(line.split("(process")[1].split(")")[0])
            time.sleep(3)
            break
    assert child is not None, "".join(seen)
    parent.send_signal(sig)
    _, err = parent.communicate(timeout=60)
    assert parent.returncode == code and said in err and "Traceback" not in err
    assert not _alive(child)  # no orphan left running
    names = sorted(p.name for p in out.rglob("*") if p.is_file())
    assert len(names) == 1 and names[0].startswith("lenet__")  # lenet's record whole, nothing of the sleeper
    env["SLEEPS_SECONDS"] = "0"
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "lenet seed 0: done already" in again.stdout
    assert sorted(p.name.split("__")[0] for p in out.rglob("*.json")) == ["lenet", "sleeps"]


KILLED_AFTER_SAVES = textwrap.dedent('''
    """Imported by every process of the suite (--import); only an isolated child saves: it saves after every epoch
    and, with $KILLED_AFTER_SAVES, is killed outright once it has saved that many times."""
    import os
    import signal

    from benchmarks.train import checkpoint

    checkpoint.EVERY_SECONDS = 0.0
    real_save, saves = checkpoint.Checkpoint.save, []


    def save(self, state):
        took = real_save(self, state)
        saves.append(took)
        if len(saves) == int(os.environ.get("KILLED_AFTER_SAVES", "0")):
            os.kill(os.getpid(), signal.SIGKILL)  # as a command's limit ends it: no handler, no clean-up
        return took


    checkpoint.Checkpoint.save = save
''')


def test_an_isolated_run_killed_after_a_save_resumes_in_a_new_child_as_if_unstopped(tmp_path):
    """The child killed outright after saving epoch 2 of 3: the suite records it crashed and keeps the state; the
    same command retries it in a new child, which goes on after epoch 2 and ends with an unstopped run's figures."""
    from benchmarks.train import checkpoint

    module = tmp_path / "killed_after_saves.py"
    module.write_text(KILLED_AFTER_SAVES)
    stopped, unstopped = tmp_path / "stopped", tmp_path / "unstopped"

    def suite(out, **env):  # in a process of its own: the module's patch stays out of this one
        command = [sys.executable, "-m", "benchmarks", "run", "--out", str(out), *QUICK, "--epochs", "3",
                   "--import", str(module), "--arch", "lenet"]  # fmt: skip
        return subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True,
                              timeout=300)  # fmt: skip

    first = suite(stopped, KILLED_AFTER_SAVES="2")
    assert first.returncode == 1 and "crashed" in first.stdout, first.stdout + first.stderr
    (crashed,) = records.read_records(stopped)
    assert crashed.status == "crashed" and "SIGKILL" in crashed.error
    assert len(list(stopped.rglob(f"*{checkpoint.SUFFIX}"))) == 1
    again = suite(stopped)
    assert again.returncode == 0 and "resumed after epoch 2/3" in again.stdout, again.stdout + again.stderr
    (resumed,) = records.read_records(stopped)
    assert resumed.status == "ok" and resumed.final.resumed_after_epochs == [2]
    assert list(stopped.rglob(f"*{checkpoint.SUFFIX}")) == []
    assert suite(unstopped).returncode == 0
    (whole,) = records.read_records(unstopped)
    figures = lambda r: [(e.train_loss, e.train_acc, e.test_acc) for e in r.epochs]  # noqa: E731
    assert whole.final.resumed_after_epochs == [] and figures(resumed) == figures(whole)
