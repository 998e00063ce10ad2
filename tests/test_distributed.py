"""torchrun with the gloo backend and 2 processes on the CPU: the sweep dealt out, and data-parallel training."""

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.schema import records

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
SWEEP = ["--arch", "lenet", "lenet-bn", "--seeds", "0", "1", "--device", "cpu", "--synthetic", "--train-subset",
         "512", "--test-subset", "128", "--epochs", "1", "--exact"]  # fmt: skip
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}  # what torchrun gives each of its workers


def torchrun(*argv, timeout=300):
    return subprocess.run([*TORCHRUN, *argv], cwd=ROOT, env=ONE_THREAD, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def by_name(folder):
    return {p.name: records.read_record(p)[0] for p in sorted(Path(folder).rglob("*.json"))}


def test_the_sweep_is_dealt_out_once_and_equals_one_process(tmp_path):
    sharded = torchrun("-m", "benchmarks", "run", "--out", str(tmp_path / "two"), *SWEEP)
    assert sharded.returncode == 0, sharded.stderr[-2000:]
    assert sharded.stdout.count("4 run(s) failed") == 0 and sharded.stdout.count("] rank 0 ") == 2
    assert sharded.stdout.count("] rank 1 ") == 2
    one = subprocess.run([sys.executable, "-m", "benchmarks", "run", "--out", str(tmp_path / "one"), *SWEEP],
                         cwd=ROOT, env=ONE_THREAD, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert one.returncode == 0
    two, single = by_name(tmp_path / "two"), by_name(tmp_path / "one")
    assert sorted(two) == sorted(single) and len(two) == 4  # every planned run, exactly once
    for name, record in two.items():  # bit-identical on the CPU: same seeds, same single thread
        assert record.final.test_acc == single[name].final.test_acc
        assert [e.train_loss for e in record.epochs] == [e.train_loss for e in single[name].epochs]


def test_a_sweep_resumes_without_retraining_finished_runs(tmp_path):
    first = subprocess.run([sys.executable, "-m", "benchmarks", "run", "--out", str(tmp_path), *SWEEP[:2],
                            *SWEEP[3:]], cwd=ROOT, env=ONE_THREAD, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert first.returncode == 0  # lenet's two seeds finished, as if the sweep had been killed after them
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.json")}
    again = torchrun("-m", "benchmarks", "run", "--out", str(tmp_path), *SWEEP)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("done already") == 2
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())  # not retrained
    assert len(list(tmp_path.rglob("*.json"))) == 4


def test_ddp_keeps_ranks_identical_and_follows_the_one_process_curve():
    """2 ranks on half-batches of 64 against 1 process on the same global batches of 128, fp32: the gradients are
    the same averages up to the order of float additions, so the losses agree to 1e-5 relative after 24 steps
    (fp32 rounding is about 1e-7 per operation; the margin allows its growth over the steps)."""
    out = torchrun(str(ROOT / "tests" / "ddp_check.py"))
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["same_parameters"]
    for ddp, one in zip(result["ddp"], result["one"]):
        assert abs(ddp - one) <= 1e-5 * abs(one)
    assert abs(result["ddp_acc"] - result["one_acc"]) <= 1 / 256  # at most one test image apart


def test_ddp_record_states_its_world(tmp_path):
    out = torchrun("-m", "benchmarks", "run", "--ddp", "--out", str(tmp_path), "--arch", "lenet", "--device", "cpu",
                   "--synthetic", "--train-subset", "512", "--test-subset", "128", "--epochs", "1", "--seeds", "0",
                   "--recipe", "d2l")  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    (record,) = by_name(tmp_path).values()
    parallel = record.data_parallel
    assert record.config.world_size == 2 and parallel.world_size == 2 and parallel.backend == "gloo"
    assert (parallel.global_batch, parallel.per_rank_batch) == (256, 128) and "lr" in parallel.lr_rule
    assert parallel.aggregate_examples_per_sec > 0 and parallel.rank0_examples_per_sec > 0


def test_ddp_without_torchrun_is_a_usage_error(tmp_path, capsys):
    from benchmarks import cli

    assert cli.main(["run", "--ddp", "--out", str(tmp_path), "--synthetic", "--arch", "lenet"]) == cli.EXIT_USAGE
    assert "torchrun" in capsys.readouterr().err
