"""Peak memory of one run: the CUDA allocator's peak on a GPU, the process's resident high-water mark on a CPU.

On Linux the kernel's high-water mark (VmHWM) is reset by writing 5 to /proc/self/clear_refs, so a CPU run
measures its own peak, not the suite's so far. Where neither exists, the peak is None.
"""

from pathlib import Path

import torch


def reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_bytes(device: str) -> int | None:
    if device.startswith("cuda"):
        return int(torch.cuda.max_memory_allocated(device))
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
