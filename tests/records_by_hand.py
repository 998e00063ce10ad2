"""Run records with known values, built through the same types the runner writes (benchmarks.schema.records)."""

from pathlib import Path

from benchmarks.schema import records
from benchmarks.schema.compute import ComputePath
from benchmarks.schema.config import RunConfig
from benchmarks.schema.records import DataInfo, EpochLog, EvalPoint, Final, Reference, ReportFacts, RunRecord

NIN_PARAMS = {"nin": 1_992_166, "nin-no-1x1": 1_546_058, "lenet": 61_706}
REFERENCE = {
    "lenet": Reference(0.779, 0.824, 55_297, 84_565, device="Tesla V100", builds=23),
    "nin": Reference(0.772, 0.879, 3_088, 3_193, device="Tesla V100", builds=22, not_converged=(0.100,)),
    "lenet-bn": Reference(0.708, 0.838, 50_597, 57_912, device="Tesla V100", builds=2, single_builds=True),
}
FAST = ComputePath("bf16", True, True, "default", "fused", True, False)


def make_config(arch, seed, profile="full", machine="test-gpu", epochs=2, **changes) -> RunConfig:
    values = dict(
        arch=arch, profile=profile, machine=machine, device="cuda", seed=seed, epochs=epochs, batch_size=128, lr=0.1,
        resolution=224 if arch != "lenet" else 28, train_subset=None, test_subset=None, fast=FAST,
    )  # fmt: skip
    values.update(changes)
    return RunConfig(**values)


def make_record(arch, seed, test_acc, eps, status="ok", profile="full", machine="test-gpu", epochs=2, fast=FAST,
                **extra):  # fmt: skip
    config = make_config(arch, seed, profile, machine, epochs, fast=fast)
    ref = REFERENCE.get(arch)
    per_epoch = [
        EpochLog(epoch=e + 1, train_loss=2.0 / (e + 1), train_acc=test_acc - 0.05 + 0.01 * e,
                 test_acc=test_acc - 0.02 * (epochs - 1 - e), timed_examples=60_000, timed_seconds=60_000 / eps,
                 train_examples_per_sec=eps, eval_examples_per_sec=3 * eps, wall_seconds=60_000 / eps + 1)
        for e in range(epochs)
    ]  # fmt: skip
    # one evaluation after each epoch: examples seen and training seconds so far, the epoch's test accuracy
    evals = [EvalPoint(e.epoch, 60_000 * e.epoch, e.epoch * 60_000 / eps, e.test_acc) for e in per_epoch]
    final = Final(test_acc=test_acc, train_acc=test_acc - 0.03, train_loss=0.4, train_examples_per_sec=eps,
                  eval_examples_per_sec=3 * eps, train_seconds=epochs * 60_000 / eps, warmup_seconds=1.0,
                  wall_seconds=100.0)  # fmt: skip
    # what the runner decides once per run: a smoke profile's accuracy is no result; only full is set against d2l
    extra.setdefault("report", ReportFacts("", None, profile != "smoke", profile == "full"))
    record = RunRecord(
        arch=arch, description=f"{arch} by hand", tags=["nin", "ablation"] if arch.startswith("nin-") else [arch],
        config=config, params=NIN_PARAMS.get(arch, 1000),
        flops=1_524_594_704 if arch.startswith("nin") else 833_040,
        reference=ref,
        env={"machine": machine, "device": "cuda", "device_name": f"{machine} by name", "torch": "2.13.0"},
        data=DataInfo("real", "by hand", 60_000, 10_000),
        status=status, epochs=per_epoch if status == "ok" else per_epoch[:1], evals=evals if status == "ok" else [],
        final=final if status == "ok" else None, peak_memory_bytes=512 * 2**20, **extra,
    )  # fmt: skip
    return config, record


def write(folder: Path, config, record) -> Path:
    return records.write_record(Path(folder) / config.file_name(), record)


def standard_set(folder: Path) -> None:
    """lenet x3 seeds, nin x2 (+1 diverged), nin-no-1x1 x2."""
    for seed, acc in enumerate((0.80, 0.81, 0.82)):
        write(folder, *make_record("lenet", seed, acc, 80_000.0))
    for seed, acc in enumerate((0.86, 0.88)):
        write(folder, *make_record("nin", seed, acc, 30_000.0))
    write(folder, *make_record("nin", 2, 0.1, 30_000.0, status="diverged", diverged_epoch=2))
    for seed, acc in enumerate((0.85, 0.87)):
        write(folder, *make_record("nin-no-1x1", seed, acc, 40_000.0))


def ablation_set(folder: Path) -> None:
    """nin and nin-no-1x1 with three learned seeds each, nin-one-1x1 with two: one ablation with a result."""
    for seed, acc in enumerate((0.86, 0.87, 0.88)):
        write(folder, *make_record("nin", seed, acc, 30_000.0 + 100 * seed))
    for seed, acc in enumerate((0.83, 0.84, 0.845)):
        write(folder, *make_record("nin-no-1x1", seed, acc, 40_000.0 + 100 * seed))
    for seed, acc in enumerate((0.85, 0.86)):
        write(folder, *make_record("nin-one-1x1", seed, acc, 35_000.0))
