"""Seeds stacked in one step (benchmarks/train/stacked.py): each stacked seed must train as its own single run."""

import dataclasses

import pytest
import torch

import archs
from benchmarks.schema.recipe import D2L
from benchmarks.train.harness import Trainer, TrainSettings
from benchmarks.train.stacked import StackedTrainer

SEEDS = (3, 7, 11)
STEPS = 3


def batches(seeds: int, batch: int, side: int, steps: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1234)
    return [(torch.rand(seeds, batch, 1, side, side, generator=g), torch.randint(0, 10, (seeds, batch), generator=g))
            for _ in range(steps)]  # fmt: skip


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """||out - ref|| / ||ref||. fp32 rounding (the stacked step's grouped convolutions sum in another order) stays
    below 1e-5 here; a part of the recipe lost on the way (weight decay 0.05, momentum, the last layer's lr) moves a
    weight by 1e-3 or more in three steps. Elementwise tolerances would trip on AdamW's first step, which turns a
    gradient's rounding into a whole step for a weight whose gradient is near zero."""
    return ((out - ref).norm() / ref.norm()).item()


# momentum, weight decay, label smoothing, a one-cycle schedule and a last layer of its own lr: the optimizer's
# groups and the schedule must reach the stacked tensors as they are in each single run
BUSY = dataclasses.replace(D2L, momentum=0.9, weight_decay=0.05, label_smoothing=0.1, schedule="onecycle",
                           warmup_fraction=0.5, last_layer_lr=0.1)  # fmt: skip


@pytest.mark.parametrize(
    ("arch", "side", "optimizer", "lr", "recipe"),
    [("lenet", 28, "sgd", 0.9, D2L), ("nin-no-dropout", 67, "sgd", 0.05, BUSY), ("lenet", 28, "adamw", 0.01, BUSY)],
)
def test_each_stacked_seed_follows_its_single_run(arch, side, optimizer, lr, recipe):
    """With no dropout, seed i of the stacked step ends where its own ``Trainer`` ends on the same batches: the same
    start (its seed's init), its own loss's gradient and its own optimizer step."""
    torch.set_num_threads(2)
    entry = archs.get_entry(arch)
    settings = TrainSettings(epochs=1, lr=lr, optimizer=optimizer, recipe=recipe)
    data = batches(len(SEEDS), 8, side, STEPS)
    stacked = StackedTrainer(entry.build, settings, SEEDS)
    stacked.set_schedule(STEPS)
    stacked_losses = [stacked.step(x, y)[0] for x, y in data]
    for i, seed in enumerate(SEEDS):
        single = Trainer(entry.build(), dataclasses.replace(settings, seed=seed))
        single.set_schedule(STEPS)
        losses = [single.step(x[i], y[i])[0] for x, y in data]
        torch.testing.assert_close(torch.stack([s[i] for s in stacked_losses]), torch.stack(losses),
                                   rtol=1e-4, atol=1e-5)  # fmt: skip
        for name, weight in single.model.named_parameters():
            assert relative_error(stacked.weights(i)[name], weight.detach()) < 1e-4, name


def test_evaluation_counts_each_seeds_own_right_answers_in_eval_mode():
    """NiN has dropout: evaluated in training mode, a seed's count would not be its single run's."""
    entry = archs.get_entry("nin")
    stacked = StackedTrainer(entry.build, TrainSettings(epochs=1, lr=0.1), SEEDS)
    (x, y), = batches(1, 64, 67, 1)  # fmt: skip
    counted = stacked.evaluate_batches([(x[0], y[0])])
    for i, seed in enumerate(SEEDS):
        single = Trainer(entry.build(), TrainSettings(epochs=1, lr=0.1, seed=seed))
        assert counted[i].item() == single.evaluate_batches([(x[0], y[0])]).item()


def test_dropout_draws_a_mask_per_seed_in_training_and_none_in_evaluation():
    """Every seed given seed 0's weights and the same batch: in training mode dropout must still make their outputs
    differ (a mask each); in evaluation mode they must agree."""
    stacked = StackedTrainer(archs.get_entry("nin").build, TrainSettings(epochs=1, lr=0.1), SEEDS)
    with torch.no_grad():
        for p in stacked.params.values():
            p.copy_(p[0].expand_as(p))
    x = torch.rand(1, 4, 1, 67, 67).expand(len(SEEDS), -1, -1, -1, -1)
    with torch.no_grad():
        out = stacked.forward(stacked.params, stacked.buffers, x)
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[2])
    stacked.train(False)
    with torch.no_grad():
        out = stacked.forward(stacked.params, stacked.buffers, x)
    torch.testing.assert_close(out[0], out[1])
    torch.testing.assert_close(out[1], out[2])


@pytest.mark.parametrize(
    ("change", "reason"),
    [({"optimizer": "muon"}, "optimizer muon"),
     ({"recipe": dataclasses.replace(D2L, clip_grad_norm=1.0)}, "gradient clipping")],
)  # fmt: skip
def test_what_would_mix_the_seeds_is_refused_with_its_reason(change, reason):
    settings = dataclasses.replace(TrainSettings(epochs=1, lr=0.1), **change)
    with pytest.raises(ValueError, match=reason):
        StackedTrainer(archs.get_entry("lenet").build, settings, SEEDS)
