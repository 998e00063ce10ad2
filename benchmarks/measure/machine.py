"""Which machine a run ran on: a fingerprint taken with the field's own tools, and a short identity slug.

The fingerprint comes from ``torch.utils.collect_env`` (lscpu's text, the OS, driver, CUDA and cuDNN),
``torch.backends.cpu.get_cpu_capability()``, ``torch.cuda.get_device_properties`` and ``nvidia-smi`` where it is
present. It never holds the host name. The slug is what the suite groups and resumes by:

- CPU: ``cpu-<vendor>-<microarchitecture>-<ISA>-<threads>t``, e.g. ``cpu-amd-zen4-avx512bf16-2t`` or
  ``cpu-amd-zen3-avx2-2t``. The ISA is torch's kernel capability (``avx2``, ``avx512``), with ``bf16`` added where
  the CPU computes bf16 natively (AVX-512-BF16 or AMX) and ``amx`` where it has AMX tiles. The threads are the ones
  torch uses: a 1-thread run is not the 2-thread machine.
- GPU: the device name made a slug, e.g. ``nvidia-h100-80gb-hbm3``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

# AMD family 0x19 (25) and 0x1a (26): model ranges -> microarchitecture (AMD's published family/model tables)
AMD_UARCH = {
    23: [(0x00, 0x2F, "zen"), (0x30, 0xFF, "zen2")],
    25: [(0x00, 0x0F, "zen3"), (0x10, 0x1F, "zen4"), (0x20, 0x5F, "zen3"), (0x60, 0xAF, "zen4")],
    26: [(0x00, 0xFF, "zen5")],
}
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class Capability:
    """What the fast defaults depend on (``config.compute_defaults``): the device kind, and native bf16 or not."""

    kind: str  # "cpu" or "cuda"
    native_bf16: bool  # CPU: AVX-512-BF16 or AMX; CUDA: compute capability 8.0 or later


def capability(device: str) -> Capability:
    if device.startswith("cuda"):
        return Capability("cuda", torch.cuda.get_device_capability(device) >= (8, 0))
    return Capability("cpu", this_cpu().native_bf16)


@dataclass(frozen=True)
class Cpu:
    vendor: str  # "AuthenticAMD", "GenuineIntel"
    model_name: str
    family: int | None
    model: int | None
    stepping: int | None
    capability: str  # torch.backends.cpu.get_cpu_capability(): "AVX512", "AVX2", "DEFAULT"
    flags: tuple[str, ...]  # the ISA flags that matter to a benchmark, as lscpu names them
    threads: int  # torch.get_num_threads()

    @property
    def native_bf16(self) -> bool:
        """bf16 in hardware and in the kernels torch dispatches to (AVX-512 ones: with ATEN_CPU_CAPABILITY=avx2
        torch runs AVX2 kernels, and bf16 is emulated there whatever the CPU has)."""
        return self.capability.upper().startswith("AVX512") and any(f in self.flags for f in NATIVE_BF16_FLAGS)


INTERESTING_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
                     "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "avx_vnni")  # fmt: skip


def parse_lscpu(text: str) -> dict[str, str]:
    """``Key: value`` lines of lscpu's output (collect_env's cpu_info) as a dict."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out.setdefault(key.strip(), value.strip())
    return out


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def cpu_from_lscpu(text: str, capability: str, threads: int) -> Cpu:
    fields = parse_lscpu(text)
    flags = set(fields.get("Flags", "").split())
    return Cpu(
        vendor=fields.get("Vendor ID", "unknown"),
        model_name=fields.get("Model name", "unknown"),
        family=_int(fields.get("CPU family")),
        model=_int(fields.get("Model")),
        stepping=_int(fields.get("Stepping")),
        capability=capability,
        flags=tuple(f for f in INTERESTING_FLAGS if f in flags),
        threads=threads,
    )


def _proc_cpuinfo_as_lscpu() -> str:
    """The first processor of /proc/cpuinfo in lscpu's key names, where lscpu is missing."""
    names = {"vendor_id": "Vendor ID", "model name": "Model name", "cpu family": "CPU family", "model": "Model",
             "stepping": "Stepping", "flags": "Flags"}  # fmt: skip
    try:
        block = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
    except OSError:
        return ""
    lines = []
    for line in block.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in names:
            lines.append(f"{names[key.strip()]}: {value.strip()}")
    return "\n".join(lines)


def uarch(cpu: Cpu) -> str:
    """AMD's microarchitecture from family and model; otherwise ``f<family>m<model>`` (stable, if not pretty)."""
    if cpu.vendor == "AuthenticAMD" and cpu.family in AMD_UARCH and cpu.model is not None:
        for low, high, name in AMD_UARCH[cpu.family]:
            if low <= cpu.model <= high:
                return name
    if cpu.family is None:
        return "unknown"
    return f"f{cpu.family}m{cpu.model}"


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def cpu_slug(cpu: Cpu) -> str:
    vendor = {"AuthenticAMD": "amd", "GenuineIntel": "intel"}.get(cpu.vendor, slugify(cpu.vendor) or "unknown")
    isa = cpu.capability.lower()
    if cpu.native_bf16:
        isa += "bf16"
    if "amx_tile" in cpu.flags:
        isa += "amx"
    return f"cpu-{vendor}-{uarch(cpu)}-{isa}-{cpu.threads}t"


def gpu_slug(name: str) -> str:
    return slugify(name)


def machine_slug(device: str) -> str:
    """The identity of the machine a run on ``device`` runs on (see the module docstring)."""
    if device.startswith("cuda"):
        return gpu_slug(torch.cuda.get_device_name(device))
    return cpu_slug(this_cpu())


@lru_cache(maxsize=1)
def _env_info():
    from torch.utils import collect_env

    return collect_env.get_env_info()


def this_cpu() -> Cpu:
    text = _env_info().cpu_info or ""
    if "Vendor ID" not in text:
        text = _proc_cpuinfo_as_lscpu()
    return cpu_from_lscpu(text, torch.backends.cpu.get_cpu_capability(), torch.get_num_threads())


def smi_id(props, index: int = 0) -> str | int:
    """How nvidia-smi names the GPU torch calls ``props`` (at torch's ``index``): its UUID (torch's index counts
    only the visible GPUs, nvidia-smi's all of them, so under CUDA_VISIBLE_DEVICES the two differ); ``index`` where
    no UUID is known."""
    uuid = str(getattr(props, "uuid", "") or "")
    if not uuid:
        return index
    return uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"


def nvidia_smi(index: int | str) -> dict[str, str]:
    """Driver, clocks and power limit of one GPU (``smi_id``) from nvidia-smi, where it runs; {} otherwise."""
    fields = ["driver_version", "clocks.max.sm", "clocks.max.memory", "power.limit", "pci.bus_id"]
    if not shutil.which("nvidia-smi"):
        return {}
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--id={index}", f"--query-gpu={','.join(fields)}", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return {}
    values = [v.strip() for v in out.stdout.strip().split(",")]
    return dict(zip(fields, values)) if out.returncode == 0 and len(values) == len(fields) else {}


def gpu_fingerprint(device: str) -> dict:
    index = torch.device(device).index or 0
    props = torch.cuda.get_device_properties(index)
    return {
        "name": props.name,
        "count": torch.cuda.device_count(),
        "memory_bytes": int(props.total_memory),
        "compute_capability": f"{props.major}.{props.minor}",
        "multiprocessors": props.multi_processor_count,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "driver": _env_info().nvidia_driver_version,
        "nvidia_smi": nvidia_smi(smi_id(props, index)),
    }


def numerics() -> dict:
    """The settings in force that change what a kernel computes or how it is chosen."""
    return {
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
    }


def git_state() -> dict:
    """The commit and whether the work tree had changes (as pytest-benchmark's commit_info does)."""
    root = Path(__file__).resolve().parent.parent

    def git(*argv):
        try:
            out = subprocess.run(["git", *argv], capture_output=True, text=True, timeout=10, cwd=root)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit.strip() if commit else None, "dirty": bool(status.strip()) if status is not None else None}


ENV_FACTS = "CNN_BENCH_MACHINE_FACTS"  # the parent's machine facts, handed to an isolated child (JSON)


def machine_facts(device: str) -> dict:
    """What does not change between the runs of one suite: the machine, its CPU and GPU, the software. Taken once
    per process (``collect_env`` runs pip, lscpu and nvidia-smi: seconds), or handed down by the parent of an
    isolated run in ``$CNN_BENCH_MACHINE_FACTS``, where it names the same device and torch."""
    handed = os.environ.get(ENV_FACTS)
    if handed:
        try:
            facts = json.loads(handed)
            if facts.get("device") == device and facts.get("torch") == torch.__version__:
                return facts
        except ValueError:
            pass
    return _machine_facts(device)


@lru_cache(maxsize=4)
def _machine_facts_cached(device: str) -> str:
    info = _env_info()
    cpu = this_cpu()
    return json.dumps({
        "machine": machine_slug(device),
        "device": device,
        "device_name": device_name(device),
        "cpu": {**cpu.__dict__, "flags": list(cpu.flags), "native_bf16": cpu.native_bf16, "uarch": uarch(cpu)},
        "gpu": gpu_fingerprint(device) if device.startswith("cuda") else None,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "os": info.os,
    })  # fmt: skip


def _machine_facts(device: str) -> dict:
    return json.loads(_machine_facts_cached(device))


def fingerprint(device: str) -> dict:
    """Everything a record says about where it ran (no host name): the machine facts, and what this run's process
    has in force (the numerics switches), its code version and its command line."""
    facts = machine_facts(device)
    found = {**facts, "numerics": numerics(), "git": git_state(), "command": command_line()}
    job = scheduler_job()
    return {**found, "scheduler": job} if job else found


def scheduler_job() -> dict | None:
    """The SLURM job this process runs in, from the variables SLURM sets in it: its id (``ARRAYID_TASK`` in an
    array) and how many times SLURM restarted it (a preempted or requeued job starts again from its first step);
    None outside SLURM."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return None
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return {"name": "slurm", "job": f"{array}_{task}" if array and task else job,
            "restarts": int(os.environ.get("SLURM_RESTART_COUNT") or 0)}  # fmt: skip


def command_line() -> str:
    """How this process was started, with ``python -m benchmarks`` rather than the path of its __main__.py."""
    argv = list(sys.argv)
    if argv and argv[0].replace("\\", "/").endswith("benchmarks/__main__.py"):
        argv[0:1] = ["python", "-m", "benchmarks"]
    return shlex.join(argv)


def device_name(device: str) -> str:
    """A human-readable name: the GPU's, or the CPU's model with its ISA and the threads used."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    cpu = this_cpu()
    return (
        f"CPU {cpu.model_name} ({uarch(cpu)}, {cpu.capability}{', native bf16' if cpu.native_bf16 else ''}, "
        f"{cpu.threads} thread{'' if cpu.threads == 1 else 's'})"
    )
