"""``python -m benchmarks describe NAME``: the resource card of one entry — per layer, its output shape,
parameters, forward FLOPs and output memory; then totals, and memory predicted for inference and for one training
step, itemised, beside what the allocator measured for the same configuration.

FLOPs come from ``torch.utils.flop_counter``'s per-module breakdown (a multiply-add counts 2, as everywhere in the
suite); shapes and dtypes from a real forward pass of one example under the run's autocast. The prediction's
assumptions, stated once: fp32 master weights; a gradient per weight; the optimizer's state (plain SGD none,
momentum one buffer, AdamW two); for backward, what each layer's backward needs (an activation's output, a
computing layer's input, a dropout's one-byte mask; with autocast, also the low-precision copy of each weight); the
largest transient is the largest layer's input plus output (inference frees activations as it goes; backward
holds a gradient in and out).

Measured: on CUDA, the allocator's peak; on a CPU, where torch keeps no allocator statistics, the peak of live
tensor bytes, counted by a ``TorchDispatchMode`` that sees every tensor torch allocates while the model is built
and run, and its release when the last reference goes (tensor storage only: no allocator or library scratch).
"""

from __future__ import annotations

import gc
import weakref
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

import archs
from benchmarks.errors import UsageError
from benchmarks.schema.compute import EXACT
from benchmarks.schema.peaks import TRAIN_PASSES
from benchmarks.schema.recipe import TrainRecipe
from benchmarks.train.compute import DTYPES, OPTIMIZERS, autocast, optimizer_state_buffers

MB = 1e6  # the card speaks in MB (10^6 bytes), as d2l's exercise does


@dataclass(frozen=True)
class Layer:
    name: str  # the module's path in the model ("0.2"), or "(other)" for work outside leaf modules
    kind: str
    shape: tuple[int, ...]  # output, for one example
    params: int
    flops: int  # forward, one example
    bytes: int  # output activation, one example


def layers(model: nn.Module, resolution: int, precision: str = "fp32") -> list[Layer]:
    """One row per leaf module call, in execution order; a last "(other)" row holds what no leaf module does."""
    model = model.eval()
    leaves = {m: n for n, m in model.named_modules() if not list(m.children())}
    calls: list[tuple[str, nn.Module, torch.Tensor]] = []

    def hook(module, inputs, output):
        if isinstance(output, torch.Tensor):
            calls.append((leaves[module], module, output))

    handles = [m.register_forward_hook(hook) for m in leaves]
    x = torch.zeros(1, 1, resolution, resolution)
    root = type(model).__name__
    try:
        with torch.no_grad(), autocast("cpu", precision), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        for h in handles:
            h.remove()
    per_module = counter.get_flop_counts()
    rows, seen = [], set()
    for name, module, out in calls:
        first = module not in seen
        seen.add(module)
        flops = sum(per_module.get(f"{root}.{name}", {}).values()) if first else 0
        params = sum(p.numel() for p in module.parameters(recurse=False)) if first else 0
        rows.append(Layer(name, type(module).__name__, tuple(out.shape[1:]), params, flops,
                          out[0].numel() * out.element_size()))  # fmt: skip
    total_flops = counter.get_total_flops()
    total_params = sum(p.numel() for p in model.parameters())
    other_flops = total_flops - sum(r.flops for r in rows)
    other_params = total_params - sum(r.params for r in rows)
    if other_flops or other_params:
        rows.append(Layer("(other)", "ops outside leaf modules", (), other_params, other_flops, 0))
    return rows


@dataclass(frozen=True)
class Prediction:
    weights: int
    gradients: int
    optimizer_state: int
    saved_activations: int  # at the batch size, for backward
    weight_copies: int  # autocast's low-precision weights, kept for backward
    largest_transient: int  # at the batch size

    @property
    def training(self) -> int:
        return (self.weights + self.gradients + self.optimizer_state + self.saved_activations + self.weight_copies
                + self.largest_transient)  # fmt: skip

    @property
    def inference(self) -> int:
        return self.weights + self.largest_transient


SAVES_OUTPUT = {"ReLU", "Sigmoid", "Tanh", "GELU", "SiLU", "Softmax"}  # their backward needs what they returned
NOTHING_SAVED = {"Flatten", "Identity", "Dropout"}  # views, or (dropout) a one-byte mask, counted apart


def saved_for_backward(rows: list[Layer], input_bytes: int) -> int:
    """Bytes kept for backward, one example: the output of each activation, the input of every other layer that
    computes (convolutions, linear layers, pooling, batch norm), each tensor once; a dropout's one-byte mask.
    Rows are taken as a chain in execution order (exact for d2l's sequential networks, an estimate for branches)."""
    sizes = [input_bytes] + [r.bytes for r in rows]
    kept = set()
    masks = 0
    for i, r in enumerate(rows, 1):
        if r.kind in SAVES_OUTPUT:
            kept.add(i)
        elif r.kind == "Dropout":
            masks += r.bytes // 4 if r.bytes else 0
        elif r.kind not in NOTHING_SAVED and r.kind != "ops outside leaf modules":
            kept.add(i - 1)
    return sum(sizes[i] for i in kept) + masks


def predict(rows: list[Layer], batch: int, precision: str, optimizer: str, input_bytes: int, momentum: float = 0.0
            ) -> Prediction:  # fmt: skip
    params = sum(r.params for r in rows)
    outputs = [r.bytes for r in rows if r.kind != "ops outside leaf modules"]
    transient = max((a + b for a, b in zip([input_bytes, *outputs], outputs)), default=0)
    low = 0 if precision == "fp32" else params * torch.tensor([], dtype=DTYPES[precision]).element_size()
    return Prediction(
        weights=4 * params, gradients=4 * params, optimizer_state=4 * params * optimizer_state_buffers(optimizer, momentum),
        saved_activations=batch * saved_for_backward(rows, input_bytes), weight_copies=low,
        largest_transient=batch * transient,
    )  # fmt: skip


class LiveTensorBytes(TorchDispatchMode):
    """The bytes of tensor storage alive, and their peak, over every op run inside the mode."""

    def __init__(self):
        super().__init__()
        self.live: dict[int, list[int]] = {}  # storage address -> [bytes, tracked tensors that use it]
        self.bytes = self.peak = 0

    def _release(self, key: int) -> None:
        entry = self.live.get(key)
        if entry is not None:
            entry[1] -= 1
            if entry[1] == 0:
                self.bytes -= entry[0]
                del self.live[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                storage = t.untyped_storage()
                key, size = storage.data_ptr(), storage.nbytes()
                if not size:
                    continue
                if key in self.live:
                    self.live[key][1] += 1
                else:
                    self.live[key] = [size, 1]
                    self.bytes += size
                    self.peak = max(self.peak, self.bytes)
                weakref.finalize(t, self._release, key)
        return out


def _one_pass(build, resolution: int, batch: int, precision: str, optimizer: str, device: str, train: bool,
              momentum: float = 0.0):  # fmt: skip
    model = build().to(device).train(train)
    x = torch.rand(batch, 1, resolution, resolution, device=device)
    kind = torch.device(device).type
    if train:
        opt = _optimizer(model, optimizer, momentum)
        with autocast(kind, precision):
            loss = F.cross_entropy(model(x), torch.zeros(batch, dtype=torch.long, device=device))
        loss.backward()
        opt.step()
    else:
        with torch.inference_mode(), autocast(kind, precision):
            model(x)


def measure(build, resolution: int, batch: int, precision: str, optimizer: str, device: str, momentum: float = 0.0
            ) -> tuple[int, int]:  # fmt: skip
    """(inference peak, training-step peak) in bytes, the model built inside the measurement (see the module
    docstring for what each device's figure counts)."""
    results = []
    for train in (False, True):
        gc.collect()
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
            base = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
            _one_pass(build, resolution, batch, precision, optimizer, device, train, momentum)
            torch.cuda.synchronize(device)
            results.append(torch.cuda.max_memory_allocated(device) - base)
        else:
            with LiveTensorBytes() as counter:
                _one_pass(build, resolution, batch, precision, optimizer, device, train, momentum)
            results.append(counter.peak)
    return results[0], results[1]


def _optimizer(model, name: str, momentum: float):
    """The harness's own optimizer (``compute.OPTIMIZERS``), d2l's for-loop step: its state is what is measured."""
    from benchmarks.train.harness import param_groups

    recipe = TrainRecipe(momentum=momentum)
    return OPTIMIZERS[name](param_groups(model, recipe, name), 1e-3, recipe, EXACT)  # d2l's for-loop step


def card(name: str, resolution: int | None, batch: int, precision: str, optimizer: str | None, device: str,
         measured: bool = True, momentum: float = 0.0) -> tuple[pd.DataFrame, dict]:  # fmt: skip
    entry = archs.get_entry(name)
    resolution = resolution or entry.input_size
    try:
        entry.check_input_size(resolution)
    except ValueError as err:
        raise UsageError(str(err)) from None
    optimizer = optimizer or entry.recipe.optimizer
    rows = layers(entry.build(), resolution, precision)
    input_bytes = resolution * resolution * 4
    prediction = predict(rows, batch, precision, optimizer, input_bytes, momentum)
    table = pd.DataFrame([{
        "layer": r.name, "type": r.kind, "output shape": "x".join(map(str, r.shape)), "params": f"{r.params:,}",
        "forward MFLOPs": f"{r.flops / 1e6:,.2f}", "output MB (one example)": f"{r.bytes / MB:.3f}",
    } for r in rows])  # fmt: skip
    totals = {
        "entry": name, "resolution": resolution, "batch": batch, "precision": precision, "optimizer": optimizer,
        "params": sum(r.params for r in rows), "forward_flops": sum(r.flops for r in rows),
        "prediction": prediction, "device": device,
        "measured": measure(entry.build, resolution, batch, precision, optimizer, device, momentum) if measured else None,
    }  # fmt: skip
    return table, totals


def render(table: pd.DataFrame, totals: dict) -> str:
    p, (inf, train) = totals["prediction"], totals["measured"] or (None, None)

    def mb(n):
        return f"{n / MB:,.1f} MB"

    def ratio(measured, predicted):
        return f"{measured / predicted:.2f}" if measured and predicted else "n/a"

    lines = [
        f"### {totals['entry']} at {totals['resolution']} px, batch {totals['batch']}, {totals['precision']}, "
        f"{totals['optimizer']}",
        "",
        table.to_markdown(index=False, disable_numparse=True, colalign=["left", "left", "left", "right", "right",
                                                                        "right"]),  # fmt: skip
        "",
        f"- parameters: {totals['params']:,}",
        f"- FLOPs per example: forward {totals['forward_flops'] / 1e9:.3f} G, training "
        f"{TRAIN_PASSES * totals['forward_flops'] / 1e9:.3f} G ({TRAIN_PASSES}x forward)",
        f"- predicted for inference: {mb(p.inference)} = weights {mb(p.weights)} + largest transient "
        f"{mb(p.largest_transient)}",
        f"- predicted for one training step: {mb(p.training)} = weights {mb(p.weights)} + gradients "
        f"{mb(p.gradients)} + optimizer state {mb(p.optimizer_state)} + activations saved for backward "
        f"{mb(p.saved_activations)}" + (f" + autocast weight copies {mb(p.weight_copies)}" if p.weight_copies else "")
        + f" + largest transient {mb(p.largest_transient)}",
        "- assumptions: fp32 master weights and gradients; optimizer state per weight (SGD none, momentum 1, AdamW "
        "2); kept for backward: each activation's output, each computing layer's input, each dropout's one-byte "
        "mask; largest transient = the largest layer's input plus output.",
    ]  # fmt: skip
    if inf is not None:
        what = (
            "CUDA allocator peak above the memory allocated before the model"
            if totals["device"].startswith("cuda")
            else "peak of live tensor bytes, model built inside the count; no allocator or library scratch"
        )
        lines += [
            f"- measured on {totals['device_name']} ({what}): inference {mb(inf)} (measured/predicted "
            f"{ratio(inf, p.inference)}), training step {mb(train)} ({ratio(train, p.training)})",
        ]
        for label, m, pr in (("inference", inf, p.inference), ("training", train, p.training)):
            if pr and m and not 0.75 <= m / pr <= 1.25:
                lines.append(f"- note: {label} measured differs from predicted by more than 25%: {why(label, m, pr)}")
    return "\n".join(lines)


def why(label: str, measured: int, predicted: int) -> str:
    if measured > predicted:
        return ("the measurement also counts what the prediction leaves out: the allocator's and the convolution "
                "library's workspaces, the loss, and pages the process touched once")  # fmt: skip
    return ("the framework frees or never materialises some tensors the prediction keeps (outputs of activations "
            "it recomputes, or buffers reused in place), or reuses pages the process held already")  # fmt: skip
