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
