"""The CUDA path, checked where the CPU can see it, and the bounded GPU check rehearsed on the CPU."""

import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks.measure.machine import smi_id
from benchmarks.measure.peaks import vendor_peak

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.parametrize(
    "name, label, tflops",
    [  # NVIDIA's datasheets, dense bf16 (half the "with sparsity" figure)
        ("NVIDIA H200 NVL", "H200 NVL", 835.5),
        ("NVIDIA H200", "H200 SXM", 989.4),
        ("NVIDIA L40", "L40", 181.0),
        ("NVIDIA L40S", "L40S", 362.1),
        ("NVIDIA L4", "L4", 121.0),
    ],
)
def test_each_gpu_name_finds_its_own_peak(name, label, tflops):
    rate, text = vendor_peak(name, "bf16")
    assert rate == tflops * 1e12 and text.startswith(label + " ")


def test_nvidia_smi_is_asked_by_uuid_not_by_torchs_index():
    """Under CUDA_VISIBLE_DEVICES=3 torch's device 0 is nvidia-smi's GPU 3: the UUID names the same GPU for both."""
    assert (
        smi_id(SimpleNamespace(uuid="6c1a2b3c-0000-1111-2222-333344445555"))
        == "GPU-6c1a2b3c-0000-1111-2222-333344445555"
    )
    assert smi_id(SimpleNamespace(uuid="", index=0)) == 0


@pytest.mark.skipif(not DATA.is_dir(), reason="needs real Fashion-MNIST (apt-get install dataset-fashion-mnist)")
def test_the_gpu_check_rehearsal_runs_on_the_cpu_inside_its_minutes_and_its_folder_builds_a_leaderboard(tmp_path):
    out = tmp_path / "check"
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "gpu-check", "--device", "cpu", "--minutes", "3", "--data-dir", str(DATA),
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    seconds = time.monotonic() - start
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert seconds < 3 * 60 + 20  # its minutes, and the process start
    log = (out / "gpu-check.log").read_text()
    assert "phase throughput" in log and "phase nin" in log and "phase entries" in log
    summary = json.loads((out / "gpu-check.json").read_text())
    assert [p["phase"] for p in summary["phases"]] == ["throughput", "nin", "entries"]
    assert all(p["status"] == "ok" for p in summary["phases"]), summary
    found = list((out / "runs").rglob("*.json"))
    nin = [p for p in found if p.name.startswith("nin__")]
    assert len(nin) >= 3 and list((out / "benchmarks").rglob("*.json"))
    board = (out / "LEADERBOARD.md").read_text()
    assert "Step throughput on" in board and "### " in board
    again = subprocess.run(
        [sys.executable, "-m", "benchmarks", "leaderboard", "--runs", str(out / "runs"), "--benchmarks",
         str(out / "benchmarks"), "--out", str(tmp_path / "elsewhere" / "LEADERBOARD.md"), "--readme", ""],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0 and "Step throughput on" in (tmp_path / "elsewhere" / "LEADERBOARD.md").read_text()
