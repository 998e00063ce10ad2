"""Run records written by hand, as the runner writes them, for the leaderboard and plot tests."""

import json
from pathlib import Path

from benchmarks.config import RunConfig

NIN_PARAMS = {"nin": 1_992_166, "nin-no-1x1": 1_546_058, "lenet": 61_706}
REFERENCE = {"lenet": (0.779, 0.824, 55_297, 84_565), "nin": (0.100, 0.879, 3_088, 3_193)}


def make_record(arch, seed, test_acc, eps, status="ok", profile="full", device_name="Test GPU", epochs=2, **extra):
    config = RunConfig(
        arch=arch, profile=profile, device="cuda", seed=seed, epochs=epochs, batch_size=128, lr=0.1,
        resolution=224 if arch != "lenet" else 28, train_subset=None, test_subset=None, precision="bf16",
        channels_last=True, compile=True, fused_optimizer=True,
    )  # fmt: skip
    ref = REFERENCE.get(arch)
    per_epoch = [
        {"epoch": e + 1, "train_loss": 2.0 / (e + 1), "train_acc": test_acc - 0.05 + 0.01 * e,
         "test_acc": test_acc - 0.02 * (epochs - 1 - e), "train_examples_per_sec": eps,
         "eval_examples_per_sec": 3 * eps, "train_seconds": 60_000 / eps, "wall_seconds": 60_000 / eps + 1}
        for e in range(epochs)
    ]  # fmt: skip
    record = {
        "schema": 1, "arch": arch, "config": config.as_dict(), "params": NIN_PARAMS.get(arch, 1000),
        "flops": 1_524_594_704 if arch.startswith("nin") else 833_040,
        "tags": ["nin", "ablation"] if arch.startswith("nin-") else [arch],
        "reference": None if ref is None else {
            "test_acc_low": ref[0], "test_acc_high": ref[1], "examples_per_sec_low": ref[2],
            "examples_per_sec_high": ref[3], "device": "Tesla V100"},
        "env": {"device": "cuda", "device_name": device_name, "torch": "2.13.0", "precision": "bf16",
                "git_commit": "abc", "hostname": "h", "timestamp": f"2026-01-0{seed + 1}T00:00:00+00:00"},
        "data": {"source": "real", "train_examples": 60_000, "test_examples": 10_000, "sha256": {}},
        "epochs": per_epoch if status == "ok" else per_epoch[:1],
        "final": None if status != "ok" else {
            "test_acc": test_acc, "train_acc": test_acc - 0.03, "train_loss": 0.4,
            "train_examples_per_sec": eps, "eval_examples_per_sec": 3 * eps,
            "train_seconds": epochs * 60_000 / eps, "warmup_seconds": 1.0, "wall_seconds": 100.0},
        "peak_memory_bytes": 512 * 2**20, "status": status,
    }  # fmt: skip
    record.update(extra)
    return config, record


def write(folder: Path, config, record) -> Path:
    path = Path(folder) / config.file_name()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True))
    return path


def standard_set(folder: Path) -> None:
    """lenet x3 seeds, nin x2 (+1 diverged), nin-no-1x1 x2."""
    for seed, acc in enumerate((0.80, 0.81, 0.82)):
        write(folder, *make_record("lenet", seed, acc, 80_000.0))
    for seed, acc in enumerate((0.86, 0.88)):
        write(folder, *make_record("nin", seed, acc, 30_000.0))
    write(folder, *make_record("nin", 2, 0.1, 30_000.0, status="diverged", diverged_epoch=2))
    for seed, acc in enumerate((0.85, 0.87)):
        write(folder, *make_record("nin-no-1x1", seed, acc, 40_000.0))
