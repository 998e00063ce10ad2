"""Run under torchrun by tests/test_distributed.py: a few data-parallel steps, then (rank 0) a 1-process run of
the same global batches; prints one JSON line: whether the ranks' parameters agree, and both loss curves."""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.data.device_data import DeviceLoader  # noqa: E402
from benchmarks.schema.compute import EXACT
from benchmarks.train import distributed
from benchmarks.train.harness import TrainSettings, train
from tests.test_harness import learnable_data, mlp  # noqa: E402


def curve(ddp: bool, rank: int, world: int):
    images, labels = learnable_data(1024)
    test_images, test_labels = learnable_data(256, seed=1)
    model = mlp()
    settings = TrainSettings(epochs=3, lr=0.2, seed=11, fast=EXACT, ddp=ddp)
    result = train(model, DeviceLoader(images, labels, 128, 28, shuffle=True, seed=11, rank=rank, world=world),
                   DeviceLoader(test_images, test_labels, 128, 28, rank=rank, world=world), settings,
                   log=lambda _: None)  # fmt: skip
    return model, [e.train_loss for e in result.epochs], result.final.test_acc


w = distributed.world()
distributed.init(w, "cpu")
model, ddp_losses, ddp_acc = curve(True, w.rank, w.size)
flat = torch.cat([p.detach().flatten() for p in model.parameters()])
gathered = [torch.zeros_like(flat) for _ in range(w.size)]
dist.all_gather(gathered, flat)
if w.rank == 0:
    _, one_losses, one_acc = curve(False, 0, 1)
    same = all(torch.equal(gathered[0], g) for g in gathered[1:])
    print(json.dumps({"same_parameters": same, "ddp": ddp_losses, "one": one_losses, "ddp_acc": ddp_acc,
                      "one_acc": one_acc}))  # fmt: skip
distributed.finish()
