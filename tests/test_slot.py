"""The GPU slot (``gpu-check``): its plan, its rehearsal on the CPU, the bundle that comes back whatever stops it,
and ``import-bundle``."""

import json
import math
import os
import random
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import torch

from benchmarks.run import bundle, slot

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("/usr/share/datasets/fashion-mnist")
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="needs real Fashion-MNIST (dataset-fashion-mnist)")
REQUIRED = {"lenet", "alexnet", "vgg11", "vgg11-small", "nin", "nin-no-1x1", "nin-one-1x1", "nin-no-dropout",
            "nin-fc-head"}  # fmt: skip


def cli(*argv, timeout=120):
    return subprocess.run([sys.executable, "-m", "benchmarks", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def test_the_slot_runs_the_chapter_first_nin_family_first_and_full_vgg11_last():
    """The issue's order of value: seed 0 of every required entry (NiN's family first, full VGG-11 last), then
    seeds 1 and 2, then NiN's fast recipe, then the compiled throughput benchmarks; VGG-11's extra seeds last."""
    steps = slot.steps(slot.GPU)
    assert [s.phase for s in steps] == ["chapter", "chapter", "chapter", "nin-fast", "throughput", "chapter"]
    first = steps[0]
    assert set(first.archs) == REQUIRED and first.seed == 0 and first.archs[-1] == "vgg11"
    assert first.archs[:5] == ("nin", "nin-no-1x1", "nin-one-1x1", "nin-no-dropout", "nin-fc-head")
    assert [s.seed for s in steps[1:3]] == [1, 2] and all(set(s.archs) == REQUIRED - {"vgg11"} for s in steps[1:3])
    assert steps[-1].archs == ("vgg11",) and steps[-1].seeds == (1, 2)
    assert "d2l" in first.flags and "full" in first.flags  # d2l's recipe at d2l's budget
    argv = slot.run_argv(first, first.archs, "w", "cuda", [])
    assert "--no-compile" in argv and "--no-isolate" in argv  # eager; one process for the step's runs


def test_the_slot_decides_each_run_as_the_run_command_does():
    """The slot predicts configurations the child `benchmarks run` will plan: the same ``RunConfig``s."""
    from benchmarks.run import options as run
    from benchmarks.run.plan import plan

    t = slot.target("cpu")
    step = slot.steps(slot.REHEARSAL)[0]
    argv = slot.run_argv(step, step.archs, "w", "cpu", [])
    parser = slot._run_parser()
    planned = plan(run.from_args(parser.parse_args(argv[1:]))).configs
    assert slot.configs(argv, t) == planned and len(planned) == 9


def test_a_run_that_does_not_fit_is_left_out_and_a_shorter_one_after_it_still_starts():
    runs = [slot.Planned(name, False, s) for name, s in (("a", 40.0), ("b", 50.0), ("c", 15.0), ("d", 30.0))]
    chosen, left_out = slot.fit([slot.Planned("done", True, 0.0), *runs], 60.0)
    assert [p.config for p in chosen] == ["a", "c"] and [p.config for p in left_out] == ["b", "d"]
    throughput = next(s for s in slot.steps(slot.GPU) if s.benchmarks)
    costs = slot.bench_costs(throughput, "cuda")  # compiled nin, alexnet, vgg11 (90 s each), then stacked ones (30 s)
    assert [(what, a) for what, a, _ in costs[:4]] == [("compiled", "nin"), ("compiled", "alexnet"),
                                                        ("compiled", "vgg11"), ("stacked", "lenet")]  # fmt: skip
    chosen, left_out = slot.bench_fit(costs, "cuda", 20 + 2 * 90 + 5)
    assert [a for _, a, _ in chosen] == ["nin", "alexnet"] and len(left_out) == len(costs) - 2
    chosen, left_out = slot.bench_fit(costs, "cuda", 20 + 2 * 90 + 30 + 5)  # vgg11 does not fit; lenet's 30 s do
    assert [a for _, a, _ in chosen] == ["nin", "alexnet", "lenet"] and [a for _, a, _ in left_out] == ["vgg11", "nin"]
    argv = slot.bench_argv(("nin", "alexnet"), "s", "cuda", (), ("lenet",))
    assert "train_step or matmul_peak or chapter_step" in argv
    assert argv[argv.index("--bench-stack") + 1] == "lenet"


@pytest.mark.skipif(torch.cuda.is_available(), reason="plans for a GPU that is not here")
def test_the_dry_run_prints_an_h200s_plan_with_its_assumption_on_a_machine_without_one():
    """Each run's seconds by the documented rule: forward FLOPs (torch's counter) x (3 a training example + 1 an
    evaluated one) x epochs, over 20% of the H200's dense bf16 989.4 TFLOP/s, plus 5 s of warm-up."""
    from torch.utils.flop_counter import FlopCounterMode

    import archs

    done = cli("gpu-check", "--device", "cuda", "--dry-run")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "NVIDIA H200 (nvidia-h200)" in out and "20% of H200 SXM dense bf16 989.4 TFLOP/s" in out
    assert sum(line.startswith("  step ") for line in out.splitlines()) == 6 and "all steps: about" in out
    with torch.device("meta"), FlopCounterMode(display=False) as counter:
        archs.get_entry("nin").build().eval()(torch.zeros(1, 1, 224, 224))
    seconds = counter.get_total_flops() * (3 * 60_000 + 10_000) * 10 / (0.2 * 989.4e12) + 5
    assert f"nin s0 {seconds:,.0f} s" in out.splitlines()[1]
    assert "this command (8 min)" in out and "the next (4 min)" in out  # what each of the slot's commands runs
    assert not done.stderr


def test_a_run_stopped_with_epochs_saved_is_planned_for_its_epochs_left(tmp_path):
    """NiN's seed 0 at d2l's budget (10 epochs), stopped by the first command with 4 epochs of 12 s in its
    checkpoint after 3 s of warm-up: the second command's plan counts the 6 left at that pace and one warm-up
    (75 s); the runs without one, all of their seconds."""
    from benchmarks.measure import machine
    from benchmarks.train import checkpoint

    t = slot.target("cuda", dry_run=True)
    step = slot.steps(slot.GPU)[0]
    configs = slot.configs(slot.run_argv(step, step.archs, "w", "cuda", []), t)
    record = lambda c: tmp_path / c.file_name()  # noqa: E731
    nin = next(c for c in configs if c.arch == "nin")
    assert nin.epochs == 10
    key = checkpoint.key(nin, nin.batch_size, machine.git_state())  # the key nin's run saves under, here
    saved = {"epochs": [{"wall_seconds": 12.0}] * 4, "segments": {"warmup_seconds": 3.0, "resumed_after": []}}
    checkpoint.Checkpoint(checkpoint.path_for(record(nin)), key).save(saved)
    whole = slot.predict(configs, [], t, lambda c: False)
    planned = slot.predict(configs, [], t, lambda c: False, record)
    for before, now in zip(whole, planned):
        expected = 6 * 12.0 + 3.0 if before.config.arch == "nin" else before.seconds
        assert now.seconds == pytest.approx(expected, rel=1e-9)


def test_the_forecast_gives_each_command_the_runs_that_fit_in_order():
    """Two commands of 100 s and 50 s; steps of (start, runs): (10, [40, 40]), (10, [30]), (10, [20, 20])."""
    costs = [(1, 10.0, [40.0, 40.0]), (2, 10.0, [30.0]), (3, 10.0, [20.0, 20.0])]
    first, second = slot.forecast(costs, [100.0, 50.0])
    assert first == (2, 90.0, [1])  # 10 + 40 + 40; step 2's start and run no longer fit, nor step 3's
    assert second == (1, 40.0, [2])  # 10 + 30; step 3 needs 10 + 20 of the 10 s left: for a third command


def files_of(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*.json"))}


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    if not DATA.is_dir():
        pytest.skip("needs real Fashion-MNIST (dataset-fashion-mnist)")
    base = tmp_path_factory.mktemp("slot")
    start = time.monotonic()
    done = cli("gpu-check", "--device", "cpu", "--minutes", "3", "--data-dir", str(DATA), "--out", str(base / "out"),
               "--work", str(base / "work"), timeout=400)  # fmt: skip
    return base, done, time.monotonic() - start


@needs_data
def test_the_rehearsal_returns_every_phase_in_one_bundle_that_a_lent_machine_gives_back(rehearsal):
    base, done, seconds = rehearsal
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert seconds < 3 * 60 + 20  # its minutes, and the process's start
    out = base / "out"
    assert bundle.check_returnable(out) == []  # at most 8 files, 2 folders down, 16 MiB each, plain names
    assert sorted(p.name for p in out.iterdir()) == [bundle.BUNDLE, bundle.SUMMARY, bundle.LOG]
    packed = bundle.read(out / bundle.BUNDLE)
    assert {k: v for k, v in packed.items() if k.startswith("runs/")} == {
        f"runs/{k}": v for k, v in files_of(base / "work" / "runs").items()
    }  # every record the work folder holds
    records = [json.loads(v) for k, v in packed.items() if k.startswith("runs/")]
    chapter = {r["arch"] for r in records if r["config"]["recipe"]["name"] == "d2l" and r["config"]["seed"] == 0}
    assert chapter == REQUIRED  # the chapter: seed 0 of every required entry
    assert any(r["arch"] == "nin" and r["config"]["recipe"]["name"] == "fast" for r in records)  # NiN's fast recipe
    benches = [json.loads(v) for k, v in packed.items() if k.startswith("benchmarks/")]
    names = {b["name"] for run in benches for b in run["benchmarks"]}
    assert {"test_train_step[nin]", "test_matmul_peak"} <= names  # the throughput step
    assert {"test_chapter_step[lenet-1]", "test_chapter_step[lenet-3]"} <= names  # one seed, and three stacked
    summary = (out / bundle.SUMMARY).read_text()
    assert f"{len(records)} records:" in summary and "bench test_train_step[nin]" in summary
    plan = json.loads(packed["slot.json"])
    assert plan["finished"] and [s["status"] for s in plan["steps"]][:5] == ["ok"] * 5


@needs_data
def test_import_bundle_puts_the_records_in_place_never_over_another_and_builds_the_leaderboard_beside_them(
    rehearsal, tmp_path
):  # fmt: skip
    base, _, _ = rehearsal
    file = base / "out" / bundle.BUNDLE
    runs, benches = tmp_path / "results" / "runs", tmp_path / "results" / "benchmarks"
    done = cli("import-bundle", str(file), "--runs", str(runs), "--benchmarks", str(benches))
    assert done.returncode == 0, done.stderr
    assert files_of(runs) == files_of(base / "work" / "runs")  # byte for byte, each under its machine
    assert files_of(benches) == files_of(base / "work" / "benchmarks")
    assert "Step throughput on" in (tmp_path / "results" / "LEADERBOARD.md").read_text()
    again = cli("import-bundle", str(file), "--runs", str(runs), "--benchmarks", str(benches), "--no-leaderboard")
    assert again.returncode == 0 and "0 files put in place" in again.stdout
    victim = sorted(runs.rglob("*.json"))[0]
    victim.write_text(victim.read_text().replace('"status": "ok"', '"status": "ok" '))  # another file, same name
    changed = victim.read_bytes()
    clash = cli("import-bundle", str(file), "--runs", str(runs), "--benchmarks", str(benches), "--no-leaderboard")
    assert clash.returncode == 1 and "not replaced" in clash.stdout and victim.read_bytes() == changed


def test_a_stopped_runs_checkpoint_stays_on_the_machine_and_out_of_the_bundle(tmp_path):
    """A checkpoint (VGG-11's is half a gigabyte) would break the 16 MiB a returned file may have; it serves only
    the still-warm machine that resumes the run, so the bundle holds the records and not it."""
    from benchmarks.train import checkpoint

    runs = tmp_path / "runs" / "some-gpu"
    runs.mkdir(parents=True)
    (runs / "nin__full__bf16__abc__seed0.json").write_text("{}")
    checkpoint.path_for(runs / "vgg11__full__bf16__abc__seed0.json").write_bytes(b"a state")
    assert [p.name for p in bundle.members(tmp_path)] == ["nin__full__bf16__abc__seed0.json"]


def test_import_bundle_refuses_what_is_not_a_bundle_in_one_line(tmp_path):
    (tmp_path / "x.tar.gz").write_bytes(b"not a tar")
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        (tmp_path / "f").write_text("{}")
        tar.add(tmp_path / "f", arcname="slot/../../escaped.json")
    for name in ("missing.tar.gz", "x.tar.gz"):
        done = cli("import-bundle", str(tmp_path / name), "--runs", str(tmp_path / "runs"))
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    with pytest.raises(ValueError, match="not inside"):
        bundle.unpack(evil, tmp_path / "dest")
    assert not (tmp_path / "escaped.json").exists()


@needs_data
def test_a_sigterm_at_a_random_point_leaves_a_bundle_of_every_finished_run(tmp_path):
    """The device tool stops a command at its limit: whatever point that lands on, the bundle that comes back holds
    every run that had finished (the point is drawn afresh each time and printed on failure)."""
    out, work = tmp_path / "out", tmp_path / "work"
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks", "gpu-check", "--device", "cpu", "--minutes", "2", "--data-dir",
         str(DATA), "--out", str(out), "--work", str(work)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    for line in process.stdout:  # once the first step is under way
        if line.startswith("step 1 ") and " -m benchmarks run" in line:
            break
    point = random.uniform(2, 45)
    time.sleep(point)
    process.send_signal(signal.SIGTERM)
    rest = process.communicate(timeout=120)[0]
    assert process.returncode == 143, f"stopped {point:.1f} s into step 1: {rest[-2000:]}"
    packed = bundle.read(out / bundle.BUNDLE)
    finished = files_of(work / "runs")
    assert {k: v for k, v in packed.items() if k.startswith("runs/")} == {f"runs/{k}": v for k, v in finished.items()}, (
        f"stopped {point:.1f} s into step 1"
    )  # fmt: skip
    assert not any(p.name.endswith(".tmp") for p in out.iterdir())
    assert bundle.check_returnable(out) == []  # stopped part-way, what a lent machine gives back


@needs_data
def test_a_stopped_throughput_benchmark_still_saves_what_finished(tmp_path):
    """pytest-benchmark saves when the session ends; SIGTERM (the slot's step out of time) ends it like Ctrl-C, so
    the benchmarks that finished are saved."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "perf/bench_throughput.py", "-v", "-p", "no:randomly", "-k", "train_step",
         "--bench-device", "cpu", "--bench-arch", "lenet,vgg11", "--bench-resolution", "64",
         f"--benchmark-storage=file://{tmp_path}", "--benchmark-autosave"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    for line in process.stdout:
        if "test_train_step[lenet] PASSED" in line:
            break
    process.send_signal(signal.SIGTERM)  # vgg11's benchmark is next, or under way
    process.communicate(timeout=120)
    saved = [json.loads(p.read_text()) for p in tmp_path.rglob("*.json")]
    assert [b["name"] for b in saved[0]["benchmarks"]] == ["test_train_step[lenet]"]


@needs_data
def test_prepare_fills_the_carried_data_folder_and_prints_a_call_the_cli_takes(tmp_path, rehearsal):
    """--prepare copies the four files into .data/ (where it runs) and prints the device calls; each printed command
    parses as the CLI's own; --from-bundle unpacks a returned bundle into the work folder, to be carried."""
    import shlex

    from benchmarks.cli import build_parser

    base, _, _ = rehearsal
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "benchmarks", "gpu-check", "--prepare", "--data-dir", str(DATA),
                           "--from-bundle", str(base / "out" / bundle.BUNDLE), "--work", "resume"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / ".data").iterdir()) == sorted(p.name for p in DATA.iterdir())
    assert files_of(tmp_path / "resume" / "runs") == files_of(base / "work" / "runs")
    calls = [line for line in done.stdout.splitlines() if "run(carry=" in line]
    assert len(calls) == 2 and all('[".data", "resume"]' in c for c in calls)
    for call in calls:
        command = json.loads(call.split("command=", 1)[1][:-1])
        words = shlex.split(command.replace("$OUT", "/tmp/out"))
        assert words[:3] == ["PYTHONUNBUFFERED=1", "python3", "-m"] and words[3] == "benchmarks"
        args = build_parser(words[4:]).parse_args(words[4:])
        assert args.data_dir == ".data" and args.work == "resume" and args.minutes in (8.0, 4.0)


def test_the_plan_counts_muons_flops_a_step_as_torchs_flop_counter_counts_one_step():
    """The plan's optimizer FLOPs of a Muon run are what torch.utils.flop_counter counts in one real step of
    MuonWithAdamW on NiN's filters (the matrix products of the Newton-Schulz iterations); an SGD run's are none."""
    from torch.utils.flop_counter import FlopCounterMode

    from benchmarks.train.muon import newton_schulz_flops, orthogonalize
    from tests.counted_by_torch import muon_step_flops
    from tests.records_by_hand import make_config

    assert slot.step_flops(make_config("nin", 0, optimizer="muon")) == muon_step_flops("nin") > 10e9
    assert slot.step_flops(make_config("nin", 0)) == 0
    shapes = [(48, 2, 3, 3), (8, 4, 3, 3)]  # NiN's filter matrices are all wide: a tall one too (48 x 18)
    with FlopCounterMode(display=False) as counter:
        for rows, *rest in shapes:
            orthogonalize(torch.randn(rows, math.prod(rest)))
    assert newton_schulz_flops(shapes) == counter.get_total_flops()
