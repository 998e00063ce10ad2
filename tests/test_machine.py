"""Machine identity: the fingerprint, the slug, the defaults chosen for a machine, and resume by machine."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import cli
from benchmarks.measure import machine
from benchmarks.measure.machine import Capability
from benchmarks.schema import records
from benchmarks.schema.compute import EXACT, ComputePath
from benchmarks.train.compute import compute_defaults, resolve_compute

ROOT = Path(__file__).resolve().parents[1]
QUICK = [
    "--synthetic",
    "--train-subset",
    "256",
    "--test-subset",
    "128",
    "--epochs",
    "1",
    "--arch",
    "lenet",
    "--seeds",
    "0",
]

ZEN3_AVX2 = """Architecture: x86_64
Vendor ID:                               AuthenticAMD
Model name:                              AMD EPYC 7B13
CPU family:                              25
Model:                                   1
Stepping:                                0
Flags:                                   fpu sse avx avx2 fma f16c bmi2
"""
ZEN4_BF16 = ZEN3_AVX2.replace("Model:                                   1", "Model:                                   17") \
    .replace("7B13", "9B14").replace("bmi2", "bmi2 avx512f avx512bw avx512_vnni avx512_bf16")  # fmt: skip
SAPPHIRE_RAPIDS = """Vendor ID: GenuineIntel
Model name: Intel(R) Xeon(R) Platinum 8481C
CPU family: 6
Model: 143
Stepping: 8
Flags: avx avx2 avx512f avx512_bf16 amx_tile amx_bf16 amx_int8
"""


def test_cpu_slugs_tell_the_two_amd_machines_apart():
    zen3 = machine.cpu_from_lscpu(ZEN3_AVX2, "AVX2", 2)
    zen4 = machine.cpu_from_lscpu(ZEN4_BF16, "AVX512", 2)
    assert machine.cpu_slug(zen3) == "cpu-amd-zen3-avx2-2t" and not zen3.native_bf16
    assert machine.cpu_slug(zen4) == "cpu-amd-zen4-avx512bf16-2t" and zen4.native_bf16
    assert (zen4.family, zen4.model, zen4.stepping) == (25, 17, 0)
    capped = machine.cpu_from_lscpu(ZEN4_BF16, "AVX2", 2)  # torch told to use AVX2 kernels only
    assert machine.cpu_slug(capped) == "cpu-amd-zen4-avx2-2t" and not capped.native_bf16
    intel = machine.cpu_from_lscpu(SAPPHIRE_RAPIDS, "AVX512", 8)
    assert machine.cpu_slug(intel) == "cpu-intel-f6m143-avx512bf16amx-8t"


def test_threads_are_part_of_the_identity():
    one, two = (machine.cpu_from_lscpu(ZEN4_BF16, "AVX512", n) for n in (1, 2))
    assert machine.cpu_slug(one) != machine.cpu_slug(two) and machine.cpu_slug(one).endswith("-1t")


def test_one_omp_thread_is_another_machine():
    code = "from benchmarks.measure import machine; print(machine.machine_slug('cpu'))"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("-1t")


def test_gpu_slug():
    assert machine.gpu_slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"


def test_the_fingerprint_names_the_machine_and_not_the_host():
    import socket

    found = machine.fingerprint("cpu")
    assert found["machine"] == machine.machine_slug("cpu")
    assert found["cpu"]["capability"] == torch.backends.cpu.get_cpu_capability()
    assert found["cpu"]["threads"] == torch.get_num_threads()
    assert set(found["numerics"]) >= {"cudnn_allow_tf32", "cuda_matmul_allow_tf32", "cudnn_benchmark"}
    assert set(found["git"]) == {"commit", "dirty"} and found["torch"] == torch.__version__
    assert socket.gethostname() not in str(found)


@pytest.mark.parametrize(
    "capability, precision",
    [
        (Capability("cpu", native_bf16=True), "bf16"),
        (Capability("cpu", native_bf16=False), "fp32"),  # bf16 would be emulated: several times slower
        (Capability("cuda", native_bf16=True), "bf16"),
        (Capability("cuda", native_bf16=False), "fp16"),
    ],
)
def test_fast_defaults_follow_the_capability(capability, precision):
    fast, why = compute_defaults(capability)
    assert fast.precision == precision and why
    assert fast.compile == (capability.kind == "cuda") and fast.cudnn_benchmark == (capability.kind == "cuda")
    assert not fast.tf32
    assert fast.muon_precision == ("bf16" if capability.native_bf16 else "fp32")  # as the step's own precision


def test_muons_precision_is_recorded_only_on_runs_that_use_muon():
    """The machine's Muon precision renames no SGD or AdamW run: there it is the field's default, whatever the
    machine or the command line said."""
    import archs
    from benchmarks.run.profiles import PROFILES, resolve

    bf16, _ = compute_defaults(Capability("cpu", native_bf16=True))
    entry, cpu = archs.get_entry("lenet"), PROFILES["cpu"]
    muon = resolve(entry, cpu, "m", "cpu", 0, bf16, {})
    adamw = resolve(entry, cpu, "m", "cpu", 0, bf16, {"optimizer": "adamw"})
    book = resolve(entry, cpu, "m", "cpu", 0, bf16, {"recipe": "d2l"})
    assert muon.optimizer == "muon" and muon.fast.muon_precision == "bf16"
    assert adamw.fast.muon_precision == book.fast.muon_precision == ComputePath().muon_precision == "fp32"
    assert adamw.fast == dataclasses.replace(bf16, muon_precision="fp32")  # nothing else of the path changed


def test_an_explicit_flag_wins_over_the_defaults_and_exact():
    defaults, _ = compute_defaults(Capability("cpu", native_bf16=False))
    assert resolve_compute(defaults, {"precision": "bf16"}).precision == "bf16"
    assert resolve_compute(defaults, {}, exact=True) == EXACT == ComputePath()
    assert resolve_compute(defaults, {"channels_last": True}, exact=True).channels_last


def test_defaults_without_native_bf16_are_chosen_and_said(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(machine, "capability", lambda device: Capability("cpu", native_bf16=False))
    assert cli.main(["run", "--out", str(tmp_path), *QUICK]) == 0
    out = capsys.readouterr().out
    assert f"machine {machine.machine_slug('cpu')}" in out and "without native bf16" in out
    (path,) = tmp_path.rglob("*.json")
    assert records.read_record(path)[0].config.fast.precision == "fp32"


def test_a_record_from_another_machine_is_not_done(tmp_path, monkeypatch, capsys):
    assert cli.main(["run", "--out", str(tmp_path), *QUICK]) == 0
    assert cli.main(["run", "--out", str(tmp_path), *QUICK]) == 0
    assert "done already" in capsys.readouterr().out  # this machine's record: done
    monkeypatch.setattr(machine, "machine_slug", lambda device: "cpu-another-machine-2t")
    assert cli.main(["run", "--out", str(tmp_path), *QUICK]) == 0
    assert "done already" not in capsys.readouterr().out  # another machine's record: trained again
    assert sorted(p.parent.name for p in tmp_path.rglob("*.json")) == sorted(
        ["cpu-another-machine-2t", machine.cpu_slug(machine.this_cpu())]
    )


def test_a_record_whose_config_differs_is_not_done(tmp_path):
    from tests.records_by_hand import make_config, make_record, write

    config, record = make_record("lenet", 0, 0.8, 100.0)
    path = write(tmp_path, config, record)
    assert records.is_done(path, config)
    assert not records.is_done(path, make_config("lenet", 0, machine="another"))


def test_exact_records_tf32_off_and_tf32_flag_on(tmp_path):
    assert cli.main(["run", "--out", str(tmp_path / "a"), *QUICK, "--exact"]) == 0
    assert cli.main(["run", "--out", str(tmp_path / "b"), *QUICK, "--tf32"]) == 0
    (exact,), (tf32,) = ([records.read_record(p)[0] for p in (tmp_path / k).rglob("*.json")] for k in "ab")
    assert exact.config.fast == EXACT and not exact.env["numerics"]["cudnn_allow_tf32"]
    assert exact.env["numerics"]["float32_matmul_precision"] == "highest"
    assert tf32.config.fast.tf32 and tf32.env["numerics"]["cudnn_allow_tf32"]
