"""Size and cost of a model: parameter count and forward FLOPs (torch.utils.flop_counter)."""

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def forward_flops(model: nn.Module, resolution: int, in_channels: int = 1) -> int:
    """FLOPs of one forward pass of one example (a multiply-add counts 2), as torch's flop counter counts them."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = torch.zeros(1, in_channels, resolution, resolution, device=device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops()


def adaptive_pool_shapes(model: nn.Module, resolution: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(input side, output side) of every adaptive pool a forward pass at this resolution runs, in order; shapes
    only (meta device)."""
    found = []

    def hook(module, inputs, output):
        found.append((tuple(inputs[0].shape[-2:]), tuple(output.shape[-2:])))

    pools = [m for m in model.modules() if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d))]
    handles = [m.register_forward_hook(hook) for m in pools]
    try:
        with torch.no_grad():
            model.to("meta").eval()(torch.empty(1, 1, resolution, resolution, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return found


def upsampling_pools(model: nn.Module, resolution: int) -> list[str]:
    """The adaptive pools that enlarge their input at this resolution ("1x1 -> 5x5"): there the network is not the
    one designed for its input size, since its classifier sees copies of a few values."""
    return [
        f"{a[0]}x{a[1]} -> {b[0]}x{b[1]}"
        for a, b in adaptive_pool_shapes(model, resolution) if a[0] < b[0] or a[1] < b[1]
    ]  # fmt: skip


def class_map_side(model: nn.Module, resolution: int) -> int | None:
    """The side of the map that the last adaptive pool reads (NiN's class maps), or None when there is none."""
    shapes = adaptive_pool_shapes(model, resolution)
    return int(shapes[-1][0][1]) if shapes else None


def design_note(model: nn.Module, design_input: int, resolution: int) -> str:
    """Where the run's input makes the network another one than its design (an adaptive pool that upsamples); ""
    at or above the design input. Shapes only: ``model`` is best built on the meta device, and is moved there."""
    if resolution >= design_input:
        return ""
    pools = upsampling_pools(model, resolution)
    if not pools:
        return ""
    return f"not d2l's network at {resolution} px: its adaptive pool upsamples {', '.join(pools)}"
