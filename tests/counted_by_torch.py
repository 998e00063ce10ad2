"""FLOPs as ``torch.utils.flop_counter`` counts them, for tests that hold the suite's own counts against the
library's: an independent derivation, not the suite's arithmetic."""

import torch
from torch.utils.flop_counter import FlopCounterMode

import archs
from benchmarks.schema.recipe import D2L
from benchmarks.train import harness
from benchmarks.train.muon import MuonWithAdamW


def muon_step_flops(arch: str) -> int:
    """The FLOPs of one real MuonWithAdamW step on the entry's parameters, random gradients (its matrix products:
    the Newton-Schulz iterations on the filters)."""
    model = archs.get_model(arch)
    opt = MuonWithAdamW(harness.param_groups(model, D2L, "muon"), lr=0.01)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    with FlopCounterMode(display=False) as counter:
        opt.step()
    return counter.get_total_flops()
