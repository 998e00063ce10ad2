"""The compute path in torch: how a training step is computed (``benchmarks.schema.compute.ComputePath``, plain data).

One place for each of its decisions, used by the runner, the harness, perf/ and the resource card alike: the
machine's defaults (``compute_defaults``), the process-wide backend switches (``apply_backend_settings``), the
autocast context (``autocast``) and the optimizers a recipe can name (``OPTIMIZERS``, ``make_optimizer``).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import fields, replace
from functools import cache

import torch

from benchmarks.measure.machine import Capability
from benchmarks.schema.compute import EXACT, PRECISIONS, ComputePath

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
assert tuple(DTYPES) == PRECISIONS

# why each machine class gets its compute path; the path itself differs only by precision and by what CUDA adds
WHY = {
    ("cuda", True): "CUDA with native bf16 (compute capability 8.0+): bf16 autocast, channels-last, compiled, "
    "fused optimizer step, cuDNN autotuning, Muon's Newton-Schulz in bf16",
    ("cuda", False): "CUDA without native bf16 (compute capability below 8.0): fp16 autocast with loss scaling, "
    "channels-last, compiled, fused optimizer step, cuDNN autotuning",
    ("cpu", True): "CPU with native bf16 (AVX-512-BF16 or AMX): bf16 autocast, channels-last, fused optimizer step, "
    "Muon's Newton-Schulz in bf16 (half its fp32 cost there, no measurable loss); not compiled",
    ("cpu", False): "CPU without native bf16 (bf16 would be emulated, several times slower): fp32, channels-last, "
    "fused optimizer step; not compiled",
}


def compute_defaults(capability: Capability) -> tuple[ComputePath, str]:
    """The compute path for a machine, and why; ``benchmarks/PERFORMANCE.md`` has the measurements behind it."""
    cuda = capability.kind == "cuda"
    precision = "bf16" if capability.native_bf16 else ("fp16" if cuda else "fp32")
    muon = "bf16" if capability.native_bf16 else "fp32"  # Keller Jordan's reference runs its iterations in bf16
    path = ComputePath(precision, channels_last=True, compile=cuda, optimizer_impl="fused", cudnn_benchmark=cuda,
                       muon_precision=muon)  # fmt: skip
    return path, WHY[("cuda" if cuda else "cpu", capability.native_bf16)]


def resolve_compute(defaults: ComputePath, overrides: dict, exact: bool = False) -> ComputePath:
    """The machine's defaults (or d2l's path with ``exact``), then each explicit value."""
    chosen = {f.name: overrides[f.name] for f in fields(ComputePath) if overrides.get(f.name) is not None}
    return replace(EXACT if exact else defaults, **chosen)


def check_precision(precision: str | None, device_kind: str) -> None:
    """Raise ValueError where the precision cannot run on the device kind."""
    if precision == "fp16" and device_kind != "cuda":
        raise ValueError("--precision fp16 needs CUDA; on a CPU use bf16 or fp32")


def apply_backend_settings(path: ComputePath) -> None:
    """The process-wide switches a compute path implies: cuDNN autotuning and TF32 (off unless asked for)."""
    torch.backends.cudnn.benchmark = path.cudnn_benchmark
    torch.backends.cudnn.allow_tf32 = path.tf32
    torch.backends.cuda.matmul.allow_tf32 = path.tf32
    torch.set_float32_matmul_precision("high" if path.tf32 else "highest")


@cache
def _device_type(device: str) -> str:
    return torch.device(device).type


def autocast(device: str, precision: str):
    """The autocast context of a precision on a device (``cuda:1`` or its kind); fp32: none."""
    if precision == "fp32":
        return nullcontext()
    return torch.autocast(_device_type(device), dtype=DTYPES[precision])


def _impl(optimizer_impl: str) -> dict:
    """torch.optim's keyword for the step implementation; SGD and AdamW have fused steps on CUDA and on the CPU
    (torch 2.4+): on the CPU, AdamW's fused step is about 8x its foreach step (``benchmarks/PERFORMANCE.md``)."""
    return {"for-loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[optimizer_impl]


# The optimizers a recipe can name, as (params, lr, recipe, compute path) -> optimizer; d2l's train_ch6 is plain
# SGD (its recipe has no momentum, no weight decay). ``OPTIMIZER_STATE``: fp32 buffers each keeps per weight.
OPTIMIZERS = {
    "sgd": lambda params, lr, recipe, fast: torch.optim.SGD(
        params,
        lr=lr,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        weight_decay=recipe.weight_decay,
        **_impl(fast.optimizer_impl),
    ),  # fmt: skip
    "adamw": lambda params, lr, recipe, fast: torch.optim.AdamW(
        params, lr=lr, weight_decay=recipe.weight_decay, **_impl(fast.optimizer_impl)
    ),
    # Muon on the convolution filters (but the last layer's), AdamW on the rest (``benchmarks.train.muon``)
    "muon": lambda groups, lr, recipe, fast: _muon(groups, lr, recipe.weight_decay, fast),
}


def _muon(groups, lr, weight_decay, fast):
    from benchmarks.train.muon import MuonWithAdamW

    return MuonWithAdamW(groups, lr=lr, weight_decay=weight_decay, ns_dtype=DTYPES[fast.muon_precision],
                         adamw_impl=_impl(fast.optimizer_impl))  # fmt: skip


def optimizer_state_buffers(name: str, momentum: float) -> int:
    """fp32 buffers per weight an optimizer keeps: plain SGD none, SGD with momentum one, AdamW two (Muon one on the
    filters, two on the rest: counted as AdamW's, the upper bound)."""
    return 2 if name in ("adamw", "muon") else (1 if momentum else 0)
