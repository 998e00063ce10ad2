"""Muon for the convolution filters, AdamW for everything else, as one optimizer (``--optimizer muon``).

Muon (Keller Jordan, 2024; the optimizer of airbench's and modded-nanogpt's speed records) takes SGD's Nesterov
momentum of a weight matrix and replaces it by the nearest semi-orthogonal matrix, computed with five
Newton-Schulz iterations, before the step: every direction of the update gets the same size. A convolution's
filters (out, in, kh, kw) are treated as the matrix (out, in * kh * kw). ``torch.optim.Muon`` takes 2-D
parameters only, hence this small class. The parameters that are no filter matrix (biases, and the last layer,
whose rows are the classes) are stepped by AdamW, in the same optimizer, so that one schedule drives both.

The groups: ``{"kind": "muon"}`` and ``{"kind": "adamw"}`` (``harness.param_groups`` makes them).
"""

from __future__ import annotations

import math

import torch

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # Keller Jordan's quintic: pushes every singular value towards 1
NS_STEPS = 5
MOMENTUM = 0.95


def orthogonalize(g: torch.Tensor, steps: int = NS_STEPS, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The Newton-Schulz approximation of ``U V^T`` for ``g = U S V^T`` (singular values end near 1), computed in
    ``dtype`` (Keller Jordan's reference uses bf16: the iteration tolerates its rounding)."""
    a, b, c = NS_COEFFICIENTS
    x = g.to(dtype)
    transposed = x.size(0) > x.size(1)
    if transposed:
        x = x.T
    x = x / (x.norm() + 1e-7)  # every singular value at most 1, where the iteration converges
    for _ in range(steps):
        s = x @ x.T
        x = a * x + (b * s + c * s @ s) @ x
    return x.T if transposed else x


class MuonWithAdamW(torch.optim.Optimizer):
    """Muon on the groups of kind ``muon``, AdamW (decoupled weight decay) on those of kind ``adamw``."""

    def __init__(self, groups: list[dict], lr: float, weight_decay: float = 0.0, betas=(0.9, 0.999), eps=1e-8,
                 ns_dtype: torch.dtype = torch.float32):  # fmt: skip
        defaults = dict(lr=lr, weight_decay=weight_decay, betas=betas, eps=eps, momentum=MOMENTUM)
        self.ns_dtype = ns_dtype
        super().__init__(groups, defaults)
        for group in self.param_groups:
            if group.get("kind") not in ("muon", "adamw"):
                raise ValueError("each group of MuonWithAdamW has kind 'muon' or 'adamw'")

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, decay = group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if group["kind"] == "muon":
                    g = p.grad.reshape(len(p), -1)
                    if not state:
                        state["momentum"] = torch.zeros_like(g)
                    buf = state["momentum"]
                    buf.mul_(group["momentum"]).add_(g)
                    update = orthogonalize(g.add(buf, alpha=group["momentum"]), dtype=self.ns_dtype)  # Nesterov
                    scale = math.sqrt(max(1.0, g.size(0) / g.size(1)))  # a tall matrix's rows are shorter
                    p.mul_(1 - lr * decay).add_(update.view_as(p).to(p.dtype), alpha=-lr * scale)
                else:
                    beta1, beta2 = group["betas"]
                    if not state:
                        state["step"] = 0
                        state["exp_avg"] = torch.zeros_like(p)
                        state["exp_avg_sq"] = torch.zeros_like(p)
                    state["step"] += 1
                    t = state["step"]
                    state["exp_avg"].lerp_(p.grad, 1 - beta1)
                    state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                    denom = (state["exp_avg_sq"] / (1 - beta2**t)).sqrt_().add_(group["eps"])
                    p.mul_(1 - lr * decay).addcdiv_(state["exp_avg"], denom, value=-lr / (1 - beta1**t))
        return loss
