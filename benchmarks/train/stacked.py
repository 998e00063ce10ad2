"""Several seeds of one network in one training step (``torch.func``): each seed's weights stacked along a new
first dimension, the forward vmapped over it, each seed on its own batch, one backward and one optimizer step for
all of them.

Why: on a GPU a small network's step can be launches rather than arithmetic (a LeNet step is a few hundred
kernels of microseconds each). N seeds stacked launch about one seed's kernels, each N times larger. Whether that
pays for the chapter is decided on the GPU: the slot's throughput step times the chapter's eager step, one seed
against ``STACKED_SEEDS`` stacked (``perf/bench_throughput.py::test_chapter_step``). On the CPU only correctness
is checked: with dropout off, each stacked seed follows its own single run (``tests/test_stacked.py``).

Each seed starts from exactly the weights its single run starts from (its ``Trainer`` builds them), and the
optimizer is the single run's, over the stacked tensors: SGD and AdamW are elementwise, so a stacked step is each
seed's own step. The seeds' losses are summed before the backward; their weights share nothing, so each gets the
gradient of its own loss. Dropout draws a different mask for every seed (``randomness="different"``).
"""

from __future__ import annotations

import copy
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state

from benchmarks.train.compute import OPTIMIZERS, autocast
from benchmarks.train.harness import Trainer, TrainSettings

STACKED_SEEDS = 3  # the chapter's seeds of an entry (0, 1, 2)
ELEMENTWISE = ("sgd", "adamw")  # Muon orthogonalises each filter matrix: a stacked tensor is not one


def unsupported(settings: TrainSettings) -> str | None:
    """Why these settings cannot be stacked (None: they can). Each reason is a part of the single run that mixes the
    seeds, or that the stacked step does not carry."""
    recipe = settings.recipe
    reasons = {
        f"optimizer {settings.optimizer} (stacked: {', '.join(ELEMENTWISE)})": settings.optimizer not in ELEMENTWISE,
        "gradient clipping (its norm is one seed's)": recipe.clip_grad_norm > 0,
        "a moving average of the weights": recipe.ema > 0,
        "fp16 loss scaling (one scale for every seed)": settings.fast.precision == "fp16",
        "data-parallel training": settings.ddp,
        "torch.compile": settings.fast.compile,
    }
    found = [what for what, present in reasons.items() if present]
    return "; ".join(found) or None


class StackedTrainer:
    """``Trainer.step`` and ``Trainer.evaluate_batches`` for ``seeds`` of one network at once.

    ``build`` makes the network; ``settings`` are the single runs' (their ``seed`` is replaced by each of
    ``seeds``). ``step`` takes a batch per seed (``x``: seeds x batch x C x H x W) and returns each seed's loss and
    right answers; ``evaluate_batches`` gives every seed the same test batches."""

    def __init__(self, build, settings: TrainSettings, seeds: tuple[int, ...], sample: torch.Tensor | None = None):
        why = unsupported(settings)
        if why:
            raise ValueError(f"seeds cannot be stacked with {why}")
        self.settings, self.seeds = settings, tuple(seeds)
        singles = [Trainer(build(), replace(settings, seed=s), sample=sample) for s in self.seeds]
        models = [t.model for t in singles]
        names = {id(p): n for n, p in models[0].named_parameters()}
        self.params, self.buffers = stack_module_state(models)
        self.params = {n: p.detach().requires_grad_() for n, p in self.params.items()}
        self.base = copy.deepcopy(models[0]).to("meta")  # the structure only: the stacked tensors are the weights

        def forward(params, buffers, x):
            return functional_call(self.base, (params, buffers), (x,))

        self.forward = torch.func.vmap(forward, randomness="different")
        self.eval_forward = torch.func.vmap(forward, in_dims=(0, 0, None), randomness="different")
        # the single run's groups and their hyperparameters (lr, its scale, the schedule's base), over stacked tensors
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [self.params[names[id(p)]] for p in g["params"]]}
                  for g in singles[0].optimizer.param_groups]  # fmt: skip
        self.optimizer = OPTIMIZERS[settings.optimizer](groups, settings.lr, settings.recipe, settings.fast)
        self.schedule = None

    def set_schedule(self, total_steps: int) -> None:
        from benchmarks.train.harness import lr_factor

        if self.settings.recipe.schedule != "constant":
            factor = lr_factor(self.settings.recipe, total_steps)
            self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)

    def train(self, mode: bool = True) -> None:
        self.base.train(mode)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of every seed, seed i on ``x[i]``, ``y[i]``: (each seed's loss, each seed's right answers)."""
        seeds, batch = y.shape
        with autocast(self.settings.device, self.settings.fast.precision):
            logits = self.forward(self.params, self.buffers, x)
            losses = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none",
                                     label_smoothing=self.settings.recipe.label_smoothing)  # fmt: skip
            loss = losses.view(seeds, batch).mean(1)  # each seed's batch mean, as its single run's loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.optimizer.step()
        if self.schedule:
            self.schedule.step()
        return loss.detach(), (logits.argmax(dim=-1) == y).sum(dim=1)

    @torch.inference_mode()
    def evaluate_batches(self, batches) -> torch.Tensor:
        """Each seed's right predictions over ``batches`` (the same batches for every seed), in eval mode."""
        self.base.eval()
        correct = torch.zeros(len(self.seeds), dtype=torch.int64, device=self.settings.device)
        for x, y in batches:
            with autocast(self.settings.device, self.settings.fast.precision):
                correct += (self.eval_forward(self.params, self.buffers, x).argmax(dim=-1) == y).sum(dim=1)
        self.base.train()
        return correct

    def weights(self, i: int) -> dict[str, torch.Tensor]:
        """Seed ``i``'s (its index in ``seeds``) weights, named as in its network."""
        return {n: p[i].detach() for n, p in self.params.items()}
