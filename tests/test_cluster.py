"""--executor slurm on a real one-node SLURM cluster (``.ci/slurm-up`` starts it; skipped, saying why, where it
cannot): a sweep as a job array, resubmission, a cancelled job, a bad partition."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import cli
from benchmarks.schema import records
from tests.test_isolation import TROUBLE

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--synthetic", "--train-subset", "256", "--test-subset", "128", "--epochs", "1"]
SLEEPER = TROUBLE  # its `sleeps` entry sleeps $SLEEPS_SECONDS in each forward pass


@pytest.fixture(scope="module")
def slurm():
    pytest.importorskip("submitit", reason="submitit is not installed (pip install submitit)")
    if sys.platform != "linux":
        pytest.skip("a one-node SLURM needs Linux")
    up = subprocess.run(["bash", str(ROOT / ".ci" / "slurm-up")], capture_output=True, text=True, timeout=600)
    if up.returncode != 0:
        pytest.skip(f"no SLURM cluster could be started here: {up.stderr.strip()[-300:]}")


def suite(out, *argv, env=None):
    command = [sys.executable, "-m", "benchmarks", "run", "--executor", "slurm", "--out", str(out), *QUICK, *argv]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})  # fmt: skip


def found(out):
    return sorted((r.arch, r.config.seed, r.status) for r in records.read_records(out))


def test_a_sweep_is_a_job_array_each_run_once_and_a_resubmission_submits_nothing(slurm, tmp_path):
    first = suite(tmp_path / "runs", "--arch", "lenet", "lenet-bn", "--seeds", "0", "1")
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert "submitted 4 run(s) as SLURM job array" in first.stdout
    assert found(tmp_path / "runs") == [("lenet", 0, "ok"), ("lenet", 1, "ok"), ("lenet-bn", 0, "ok"),
                                        ("lenet-bn", 1, "ok")]  # fmt: skip
    assert len(list((tmp_path / "runs").rglob("*.json"))) == 4  # each once
    again = suite(tmp_path / "runs", "--arch", "lenet", "lenet-bn", "--seeds", "0", "1")
    assert (
        again.returncode == 0
        and "nothing to submit" in again.stdout
        and "run(s) as SLURM job array" not in again.stdout
    )
    assert again.stdout.strip().splitlines()[-1].startswith("suite done in ") and "4 skipped" in again.stdout


def test_a_cancelled_job_is_a_crashed_record_and_the_next_submission_retries_it(slurm, tmp_path):
    module = tmp_path / "sleeper.py"
    module.write_text(SLEEPER)
    command = [sys.executable, "-m", "benchmarks", "run", "--executor", "slurm", "--out", str(tmp_path / "runs"),
               *QUICK, "--seeds", "0", "--import", str(module), "--arch", "sleeps"]  # fmt: skip
    env = {**os.environ, "SLEEPS_SECONDS": "30"}
    parent = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)  # fmt: skip
    job = None
    deadline = time.monotonic() + 180
    lines = []
    while time.monotonic() < deadline:
        line = parent.stdout.readline()
        lines.append(line)
        if "submitted 1 run(s)" in line:
            job = line.rsplit("= ", 1)[1].strip()
        if job and "running" in line:
            time.sleep(3)
            break
    assert job, "".join(lines)
    subprocess.run(["scancel", job], check=True)
    rest, _ = parent.communicate(timeout=180)
    assert parent.returncode == 1, "".join(lines) + rest
    ((arch, seed, status),) = found(tmp_path / "runs")
    (record,) = records.read_records(tmp_path / "runs")
    assert status == "crashed" and "CANCELLED" in record.error and f"SLURM job {job}" in record.error
    retry = subprocess.run(command, cwd=ROOT, env={**os.environ, "SLEEPS_SECONDS": "0"}, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    assert retry.returncode == 0 and "submitted 1 run(s)" in retry.stdout
    assert found(tmp_path / "runs") == [("sleeps", 0, "ok")]


def test_an_unknown_partition_is_refused_before_anything_is_submitted(slurm, tmp_path):
    before = subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout
    done = suite(tmp_path / "runs", "--arch", "lenet", "--seeds", "0", "--slurm-partition", "no-such-partition")
    assert done.returncode == cli.EXIT_USAGE and done.stderr.count("\n") == 1
    assert "--slurm-partition no-such-partition: no such partition" in done.stderr
    assert not (tmp_path / "runs").exists()  # nothing planned into it, nothing submitted
    assert subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout == before


def test_without_submitit_slurm_is_one_line_saying_how_to_install_it(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "submitit" else real(name, *a))
    argv = ["run", "--executor", "slurm", "--out", str(tmp_path / "runs"), *QUICK, "--arch", "lenet"]
    assert cli.main(argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install submitit" in err


def test_a_job_at_its_time_limit_is_a_timeout_record(slurm, tmp_path):
    """submitit signals a job 90 s before its limit and ends it ("timed-out"): a one-minute limit is reached at once."""
    module = tmp_path / "sleeper.py"
    module.write_text(SLEEPER)
    done = suite(tmp_path / "runs", "--seeds", "0", "--import", str(module), "--arch", "sleeps", "--slurm-time", "1",
                 env={"SLEEPS_SECONDS": "5"})  # fmt: skip
    assert done.returncode == 1, done.stdout[-2000:]
    (record,) = records.read_records(tmp_path / "runs")
    assert record.status == "timeout" and "time limit" in record.error
    assert any("timed-out" in line for line in record.output_tail)
    assert "SLURM requeued" not in done.stdout  # a timeout is not requeued: it would only reach its limit again


def _read_until(parent, wanted, lines, seconds=180):
    """Lines of ``parent``'s output up to the first holding ``wanted`` (appended to ``lines``); that line."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = parent.stdout.readline()
        lines.append(line)
        if wanted in line or not line:
            return line
    return ""


def test_a_preempted_job_is_requeued_and_its_run_recorded_once(slurm, tmp_path):
    """A job of the `urgent` partition takes the whole node: SLURM preempts the sweep's job (submitit's signal, then
    its requeue), the run starts again from its first step and is recorded once, ok, saying SLURM restarted it."""
    if "urgent" not in subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True).stdout.split():
        pytest.skip("this SLURM has no `urgent` partition to preempt with (.ci/slurm-up writes one)")
    module = tmp_path / "sleeper.py"
    module.write_text(SLEEPER)
    command = [sys.executable, "-m", "benchmarks", "run", "--executor", "slurm", "--out", str(tmp_path / "runs"),
               *QUICK, "--seeds", "0", "--import", str(module), "--arch", "sleeps"]  # fmt: skip
    parent = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "SLEEPS_SECONDS": "2"}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)  # fmt: skip
    lines = []
    job = _read_until(parent, "submitted 1 run(s)", lines).rsplit("= ", 1)[-1].strip()
    assert job and "running" in _read_until(parent, "running", lines), "".join(lines)
    time.sleep(3)  # into its training
    urgent = subprocess.run(["sbatch", "-p", "urgent", "-c", str(os.cpu_count()), "-o", "/dev/null", "--wrap",
                             "sleep 1"], capture_output=True, text=True, check=True)  # fmt: skip
    assert "SLURM requeued job" in _read_until(parent, "SLURM requeued job", lines), "".join(lines) + urgent.stdout
    # SLURM holds a requeued batch job for two minutes before it may start again; the test does not wait them out
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)
    rest, _ = parent.communicate(timeout=300)
    assert parent.returncode == 0, "".join(lines) + rest
    (record,) = records.read_records(tmp_path / "runs")
    assert record.status == "ok" and record.env["scheduler"] == {"name": "slurm", "job": job, "restarts": 1}
    log = "".join(p.read_text() for p in (tmp_path / "runs" / ".slurm").rglob("*.out"))
    assert "this job is preempted" in log  # submitit's handler took it as a preemption, not a timeout


def test_the_watcher_waits_through_a_preempted_jobs_grace_time_and_says_it_was_requeued(tmp_path, monkeypatch):
    """squeue(1)'s job state codes: SIGNALING ("job is being signaled") comes between RUNNING and the requeue of a
    preempted job with a grace time; the job has not ended there. The states, polled one by one, as squeue gives
    them (no cluster needed)."""
    from benchmarks.run import slurm_watch
    from tests.records_by_hand import make_record, write

    config, record = make_record("lenet", 0, 0.85, 1000.0)
    path = write(tmp_path, config, record)  # the restarted run's record
    polled = ["RUNNING", "SIGNALING", "SIGNALING", "PENDING", "RUNNING", "COMPLETED"]
    monkeypatch.setattr(slurm_watch, "_states", lambda jobs: {job: (polled.pop(0), "None") for job in jobs})
    monkeypatch.setattr(slurm_watch.time, "sleep", lambda seconds: None)
    said = []
    job = type("Job", (), {"job_id": "7"})()
    statuses = slurm_watch.watch([("lenet seed 0", job, (config, path))], "cpu", None,
                                 say=lambda text, **_: said.append(text))  # fmt: skip
    assert statuses == [("lenet seed 0", "ok")] and polled == []  # polled to the end, not settled in SIGNALING
    assert sum("SLURM requeued job 7" in line for line in said) == 1


def test_ddp_is_one_job_running_torchrun_over_its_ranks(slurm, tmp_path):
    if (os.cpu_count() or 1) < 2:
        pytest.skip("a 2-rank job needs 2 CPUs on the node")
    argv = ("--arch", "lenet", "lenet-bn", "--seeds", "0", "--device", "cpu", "--ddp", "--slurm-cpus-per-job", "2")
    first = suite(tmp_path / "runs", *argv)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    line = next(t for t in first.stdout.splitlines() if t.startswith("submitted"))
    assert line.startswith("submitted 2 run(s) as one SLURM job ") and "over its 2 ranks" in line
    job = line.split("one SLURM job ")[1].split(",")[0]
    found_records = records.read_records(tmp_path / "runs")
    assert sorted(r.arch for r in found_records) == ["lenet", "lenet-bn"]
    for record in found_records:
        assert record.status == "ok" and record.data_parallel.world_size == 2
        assert record.env["scheduler"]["job"] == job  # both trained in that one job
    again = suite(tmp_path / "runs", *argv)
    assert again.returncode == 0 and "nothing to submit" in again.stdout


@pytest.mark.parametrize("argv, said", [
    (("--device", "cpu", "--ddp"), "needs --slurm-cpus-per-job N"),
    (("--device", "cpu", "--ddp", "--slurm-cpus-per-job", "1"), "needs --slurm-cpus-per-job N with N >= 2"),
    (("--run-timeout", "5"), "each job's limit is --slurm-time"),
])  # fmt: skip
def test_what_slurm_cannot_do_is_refused_before_anything_is_submitted(slurm, tmp_path, argv, said):
    before = subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout
    done = suite(tmp_path / "runs", "--arch", "lenet", "--seeds", "0", *argv)
    assert done.returncode == cli.EXIT_USAGE and done.stderr.count("\n") == 1 and said in done.stderr
    assert not (tmp_path / "runs").exists()
    assert subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout == before


def test_the_ddp_jobs_command_asks_for_the_same_suite(tmp_path, monkeypatch):
    """What the job runs under torchrun parses back to the submitted options, less the submission's own, with its
    paths absolute (the job may start in another folder)."""
    from benchmarks.run import options as run_command
    from benchmarks.run.cluster import suite_argv

    def parsed(argv):
        parser = cli.build_parser(["run", *argv])
        return run_command.from_args(parser.parse_args(["run", *argv]))

    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.py").write_text("")
    here = ["--arch", "lenet", "nin*", "--seeds", "0", "1", "--epochs", "2", "--lr", "0.01", "--recipe-set",
            "label_smoothing=0", "--recipe-set", "init=xavier", "--no-channels-last", "--compile", "--precision",
            "bf16", "--synthetic", "--train-subset", "256", "--ddp", "--no-isolate", "--max-minutes", "5",
            "--device", "cuda"]  # fmt: skip
    paths = ["--out", "runs", "--data-dir", "data", "--import", "mine.py"]
    absolute = ["--out", str(tmp_path / "runs"), "--data-dir", str(tmp_path / "data"), "--import",
                str(tmp_path / "mine.py")]  # fmt: skip
    submission = ["--executor", "slurm", "--slurm-partition", "gpu", "--slurm-time", "30", "--slurm-gpus-per-job",
                  "8", "--slurm-option", "account=lab", "--no-wait"]  # fmt: skip
    assert parsed(suite_argv(parsed(here + paths + submission))) == parsed(here + absolute)


def test_a_job_on_another_machine_than_planned_is_refused(tmp_path):
    pytest.importorskip("submitit")
    import json

    from benchmarks.run.slurm_jobs import MachineMismatch, OneRun

    with pytest.raises(MachineMismatch, match="planned on the submitting machine, gpu-elsewhere"):
        OneRun()(json.dumps({"machine": "gpu-elsewhere"}), str(tmp_path / "r.json"), "cpu", [])
    assert not (tmp_path / "r.json").exists()


def test_after_no_wait_the_same_command_watches_what_still_runs_and_resubmits_what_ended(slurm, tmp_path):
    module = tmp_path / "sleeper.py"
    module.write_text(SLEEPER)
    argv = ("--seeds", "0", "1", "--import", str(module), "--arch", "sleeps")
    first = suite(tmp_path / "runs", *argv, "--no-wait", env={"SLEEPS_SECONDS": "3"})
    assert first.returncode == 0 and "not waiting" in first.stdout, first.stdout[-2000:] + first.stderr[-2000:]
    line = next(t for t in first.stdout.splitlines() if t.startswith("submitted 2 run(s)"))
    held, cancelled = (part.rsplit("= ", 1)[1].strip() for part in line.split(": ", 1)[1].split(", "))
    subprocess.run(["scancel", cancelled], check=True)
    for _ in range(60):  # until it has left the queue (COMPLETING is still a job in SLURM, watched, not resubmitted)
        if not subprocess.run(["squeue", "-h", "-j", cancelled], capture_output=True, text=True).stdout.strip():
            break
        time.sleep(0.5)
    again = suite(tmp_path / "runs", *argv, env={"SLEEPS_SECONDS": "0"})
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    assert f"1 run(s) still queued or running in SLURM job(s) {held}: not submitted again, watched" in again.stdout
    # CANCELLED, or no trace at all where the task was cancelled before the scheduler split it off the array
    assert f"sleeps seed 1: crashed: SLURM job {cancelled} ended" in again.stdout, again.stdout[-1500:]
    assert "submitted 1 run(s)" in again.stdout  # only the cancelled run
    assert found(tmp_path / "runs") == [("sleeps", 0, "ok"), ("sleeps", 1, "ok")]
    jobs = {r.config.seed: r.env["scheduler"]["job"] for r in records.read_records(tmp_path / "runs")}
    assert jobs[0] == held and jobs[1] not in (held, cancelled)  # seed 0 from the first job, seed 1 resubmitted


def test_a_run_the_records_say_outlasts_its_time_limit_is_warned_of_before_it_is_submitted(slurm, tmp_path):
    import json

    out = tmp_path / "runs"
    local = [sys.executable, "-m", "benchmarks", "run", "--out", str(out), *QUICK, "--arch", "lenet", "--seeds", "0"]
    assert subprocess.run(local, cwd=ROOT, capture_output=True, timeout=300).returncode == 0
    (path,) = out.rglob("lenet__*.json")
    record = json.loads(path.read_text())
    record["final"]["wall_seconds"] = 7200.0  # this machine's records now say the configuration takes two hours
    path.write_text(json.dumps(record))
    done = suite(out, "--arch", "lenet", "--seeds", "0", "1", "--slurm-time", "30", "--no-wait")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    submitted = next(t for t in done.stdout.splitlines() if t.startswith("submitted"))
    subprocess.run(["scancel", submitted.rsplit("= ", 1)[1].strip()], check=True)
    warning = next(t for t in done.stdout.splitlines() if t.startswith("warning:"))
    assert "1 run(s) need more than --slurm-time 30 min" in warning and "lenet seed 1 (about 120 min)" in warning
    assert done.stdout.index(warning) < done.stdout.index(submitted)  # said before the submission
