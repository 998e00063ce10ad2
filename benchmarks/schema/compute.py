"""The compute path as plain data: how a training step is computed (precision, memory format, compilation, the
optimizer step's implementation, cuDNN autotuning, TF32). None of it changes the recipe. Records keep it under
``config.fast``; ``benchmarks.train.compute`` turns it into torch settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmarks.schema.fields import ADDED

PRECISIONS = ("fp32", "bf16", "fp16")
OPTIMIZER_IMPLS = ("for-loop", "foreach", "fused")  # torch.optim's names for the three ways to run a step
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
MUON_PRECISIONS = ("fp32", "bf16")  # the dtype of Muon's Newton-Schulz iterations


def _flag(default, help: str = "", choices: tuple[str, ...] | None = None, added: bool = False):
    """A compute-path field and its command-line flag: ``--precision``, ``--channels-last/--no-channels-last``;
    ``added``: a field added after records were first written (``schema.fields``)."""
    return field(default=default, metadata={"help": help, "choices": choices, ADDED: added})


@dataclass(frozen=True)
class ComputePath:
    """How a step is computed; none of it changes the recipe."""

    precision: str = _flag("fp32", choices=PRECISIONS)  # fp32, or autocast to bf16 / fp16 (fp16 with loss scaling)
    channels_last: bool = _flag(False)
    compile: bool = _flag(False)  # torch.compile(dynamic=False)
    compile_mode: str = _flag("default", choices=COMPILE_MODES)
    # for-loop (d2l's), foreach, or fused (one kernel per step, CUDA and CPU)
    optimizer_impl: str = _flag("for-loop", "how the optimizer step runs", OPTIMIZER_IMPLS)
    cudnn_benchmark: bool = _flag(False)  # cuDNN times its algorithms once per shape and keeps the fastest
    tf32: bool = _flag(False, "TF32 for fp32 matmuls and convolutions (default: off, fp32 is fp32)")
    # --optimizer muon: the Newton-Schulz iterations in fp32, or in bf16 as Keller Jordan's reference runs them
    muon_precision: str = _flag(
        "fp32", "with --optimizer muon: the dtype of its Newton-Schulz iterations", MUON_PRECISIONS, added=True
    )


EXACT = ComputePath()  # d2l's path
