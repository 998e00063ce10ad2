"""Muon for the convolution filters, AdamW for everything else, as one optimizer (``--optimizer muon``).

Muon (Keller Jordan, 2024; the optimizer of airbench's and modded-nanogpt's speed records) takes SGD's Nesterov
momentum of a weight matrix and replaces it by the nearest semi-orthogonal matrix, computed with five
Newton-Schulz iterations, before the step: every direction of the update gets the same size. A convolution's
filters (out, in, kh, kw) are treated as the matrix (out, in * kh * kw). ``torch.optim.Muon`` takes 2-D
parameters only, hence this small class. The parameters that are no filter matrix (biases, and the last layer,
whose rows are the classes) are stepped by AdamW, in the same optimizer, so that one schedule drives both.

The groups: ``{"kind": "muon"}`` and ``{"kind": "adamw"}`` (``harness.param_groups`` makes them).

The step is written for a GPU, where one small model's step is bound by kernel launches, not arithmetic: the
filters' momentum is one multi-tensor (``torch._foreach_*``) update for all of them, and filters of one matrix shape
are orthogonalised together, stacked, three batched matrix products an iteration (NiN: 11 filters in 8 shapes);
the AdamW part is ``torch.optim``'s own step, in the compute path's implementation (fused, foreach or a for-loop).
One NiN optimizer step went from 731 operations to 246 (``benchmarks/PERFORMANCE.md``).
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch
from torch.optim.adamw import adamw

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # Keller Jordan's quintic: pushes every singular value towards 1
NS_STEPS = 5
MOMENTUM = 0.95


def orthogonalize(g: torch.Tensor, steps: int = NS_STEPS, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The Newton-Schulz approximation of ``U V^T`` for ``g = U S V^T`` (singular values end near 1), computed in
    ``dtype`` (Keller Jordan's reference uses bf16: the iteration tolerates its rounding); ``g`` one matrix, or a
    stack of matrices of one shape (each orthogonalised on its own)."""
    a, b, c = NS_COEFFICIENTS
    x = g.to(dtype)
    single = x.dim() == 2
    if single:
        x = x.unsqueeze(0)
    transposed = x.size(-2) > x.size(-1)
    if transposed:
        x = x.mT
    x = x / (torch.linalg.matrix_norm(x, keepdim=True) + 1e-7)  # every singular value at most 1: it converges
    for _ in range(steps):
        s = torch.bmm(x, x.mT)
        x = torch.baddbmm(x, torch.baddbmm(s, s, s, beta=b, alpha=c), x, beta=a)  # a x + (b s + c s s) x
    x = x.mT if transposed else x
    return x[0] if single else x


def newton_schulz_flops(shapes: list[tuple[int, ...]], steps: int = NS_STEPS) -> int:
    """FLOPs of one step's orthogonalisations (2 a multiply-add): for a filter matrix m x n, m <= n (a tall one is
    transposed), each iteration's x x^T is 2 m^2 n, s s 2 m^3 and its product with x 2 m^2 n."""
    total = 0
    for shape in shapes:
        rows, cols = shape[0], math.prod(shape[1:])
        m, n = min(rows, cols), max(rows, cols)
        total += steps * (4 * m * m * n + 2 * m**3)
    return total


class MuonWithAdamW(torch.optim.Optimizer):
    """Muon on the groups of kind ``muon``, AdamW (decoupled weight decay) on those of kind ``adamw``."""

    def __init__(self, groups: list[dict], lr: float, weight_decay: float = 0.0, betas=(0.9, 0.999), eps=1e-8,
                 ns_dtype: torch.dtype = torch.float32, adamw_impl: dict | None = None):  # fmt: skip
        defaults = dict(lr=lr, weight_decay=weight_decay, betas=betas, eps=eps, momentum=MOMENTUM)
        self.ns_dtype = ns_dtype
        self.adamw_impl = adamw_impl or {"foreach": False}  # torch.optim's keyword: foreach or fused
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
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                (self._muon if group["kind"] == "muon" else self._adamw)(group, params)
        return loss

    def _muon(self, group: dict, params: list[torch.Tensor]) -> None:
        """Nesterov momentum on each filter matrix, orthogonalised, stepped by lr (times sqrt(rows / columns) for a
        tall matrix, whose rows are shorter)."""
        lr, decay, momentum = group["lr"], group["weight_decay"], group["momentum"]
        grads = [p.grad.reshape(len(p), -1) for p in params]
        for p, g in zip(params, grads):
            if not self.state[p]:
                self.state[p]["momentum"] = torch.zeros_like(g)
        bufs = [self.state[p]["momentum"] for p in params]
        torch._foreach_mul_(bufs, momentum)
        torch._foreach_add_(bufs, grads)
        nesterov = torch._foreach_add(grads, bufs, alpha=momentum)
        by_shape = defaultdict(list)
        for i, g in enumerate(nesterov):
            by_shape[tuple(g.shape)].append(i)
        updates = [None] * len(params)
        for (rows, cols), members in by_shape.items():
            stacked = orthogonalize(torch.stack([nesterov[i] for i in members]), dtype=self.ns_dtype)
            stacked = stacked.to(params[members[0]].dtype)
            if rows > cols:
                stacked = stacked * math.sqrt(rows / cols)
            for i, u in zip(members, stacked):
                updates[i] = u.view_as(params[i])
        if decay:
            torch._foreach_mul_(params, 1 - lr * decay)
        torch._foreach_add_(params, updates, alpha=-lr)

    def _adamw(self, group: dict, params: list[torch.Tensor]) -> None:
        for p in params:
            if not self.state[p]:
                state = self.state[p]
                # where torch.optim.AdamW keeps it: on the device for the fused step, else on the CPU
                state["step"] = torch.zeros((), device=p.device if self.adamw_impl.get("fused") else "cpu")
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        states = [self.state[p] for p in params]
        beta1, beta2 = group["betas"]
        adamw(params, [p.grad for p in params], [s["exp_avg"] for s in states],
              [s["exp_avg_sq"] for s in states], [], [s["step"] for s in states], **self.adamw_impl, amsgrad=False,
              beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"], eps=group["eps"],
              maximize=False)  # fmt: skip
