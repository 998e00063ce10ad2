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
