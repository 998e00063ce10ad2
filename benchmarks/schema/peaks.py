"""Vendor dense peak rates, the denominator of MFU: TFLOP/s per precision, without sparsity.

From the vendors' datasheets and architecture whitepapers (NVIDIA H100, H200, A100, L4, L40S, Ada and Ampere
GeForce whitepapers, V100, T4). Tensor-core rates for bf16/fp16 with fp32 accumulation, which is what autocast
runs; "tf32" is the tensor-core TF32 rate; "fp32" the plain CUDA-core rate (TF32 off). Extend ``PEAKS`` with a row
for another GPU: the first pattern found in the device name (lower case) wins, so list specific names first.
"""

from __future__ import annotations

import re

# a training example costs about 3 forward passes: the forward, and a backward about twice as expensive (the
# gradients of the inputs and of the weights); the FLOP budget, MFU and the throughput benchmarks all count so
TRAIN_PASSES = 3

# (pattern in torch.cuda.get_device_name().lower(), label, {precision: dense TFLOP/s})
PEAKS: list[tuple[str, str, dict[str, float]]] = [
    ("h100 pcie", "H100 PCIe", {"bf16": 756.5, "fp16": 756.5, "tf32": 378.0, "fp32": 51.2}),
    ("h100 nvl", "H100 NVL", {"bf16": 835.5, "fp16": 835.5, "tf32": 417.5, "fp32": 60.0}),
    ("h100", "H100 SXM", {"bf16": 989.4, "fp16": 989.4, "tf32": 494.7, "fp32": 66.9}),
    ("h200 nvl", "H200 NVL", {"bf16": 835.5, "fp16": 835.5, "tf32": 417.5, "fp32": 60.0}),
    ("h200", "H200 SXM", {"bf16": 989.4, "fp16": 989.4, "tf32": 494.7, "fp32": 66.9}),
    ("a100", "A100", {"bf16": 312.0, "fp16": 312.0, "tf32": 156.0, "fp32": 19.5}),
    ("l40s", "L40S", {"bf16": 362.1, "fp16": 362.1, "tf32": 183.0, "fp32": 91.6}),
    ("l40", "L40", {"bf16": 181.0, "fp16": 181.0, "tf32": 90.5, "fp32": 90.5}),
    ("l4", "L4", {"bf16": 121.0, "fp16": 121.0, "tf32": 60.0, "fp32": 30.3}),
    ("rtx 4090", "GeForce RTX 4090", {"bf16": 165.2, "fp16": 165.2, "tf32": 82.6, "fp32": 82.6}),
    ("rtx 3090", "GeForce RTX 3090", {"bf16": 35.6, "fp16": 35.6, "tf32": 35.6, "fp32": 35.6}),
    ("v100-sxm2", "V100 SXM2", {"fp16": 125.0, "fp32": 15.7}),
    ("v100", "V100 PCIe", {"fp16": 112.0, "fp32": 14.0}),
    ("t4", "T4", {"fp16": 65.0, "fp32": 8.1}),
]


def vendor_peak(device_name: str, precision: str, tf32: bool = False) -> tuple[float, str] | None:
    """(dense peak FLOP/s, what it is) for this GPU and precision, or None where the table has no row.

    fp32 with TF32 on is divided by the TF32 rate. A CPU has no row: its peak depends on clocks a VM does not
    report, so CPU rows show the share of the measured matrix-product rate only.
    """
    name = device_name.lower()
    key = "tf32" if precision == "fp32" and tf32 else precision
    for pattern, label, rates in PEAKS:
        # a whole name: "l4" is not the start of "l40", nor "h200" of "h2000"
        if re.search(rf"(?<![a-z0-9]){re.escape(pattern)}(?![a-z0-9])", name):
            if key not in rates:
                return None
            return rates[key] * 1e12, f"{label} dense {key} {rates[key]:g} TFLOP/s (vendor datasheet)"
    return None


def training_mfu(forward_flops: float | None, examples_per_sec: float | None, device_name: str, precision: str,
                 tf32: bool = False) -> float | None:  # fmt: skip
    """Model FLOPs utilisation of training: ``TRAIN_PASSES`` x forward FLOPs of one example x examples/s, over the
    device's vendor dense peak at that precision; None where a number is missing or the device has no row (a CPU)."""
    peak = vendor_peak(device_name, precision, tf32)
    if peak is None or not forward_flops or not examples_per_sec:
        return None
    return TRAIN_PASSES * forward_flops * examples_per_sec / peak[0]
