"""Train and evaluate one model: d2l's ``train_ch6``, timed properly, with an optional fast path.

Semantics by default are d2l's: Xavier-uniform init of every Conv2d and Linear weight, cross-entropy, plain SGD,
a test-set evaluation after each epoch. Loss and accuracy accumulate on the device, so a step never waits for
the host; the clock is read only after a device synchronize. The first step (allocation, cuDNN autotuning,
compilation) is timed apart from the steady state, and the evaluation apart from training.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks import memory

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class Diverged(Exception):
    def __init__(self, epoch: int, loss: float):
        super().__init__(f"training loss became {loss} in epoch {epoch}")
        self.epoch, self.loss = epoch, loss


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    lr: float
    device: str = "cpu"
    precision: str = "fp32"  # fp32, or autocast to bf16 / fp16
    channels_last: bool = False
    compile: bool = False
    fused_optimizer: bool = False  # a fused (CUDA) or foreach SGD step; d2l's is the plain per-tensor loop
    seed: int = 0


def init_weights(model: nn.Module) -> None:
    """d2l's ``train_ch6`` init: Xavier-uniform weights in every Conv2d and Linear, biases as PyTorch sets them.

    Every layer is reset first, so the result depends on the seed in force now, not on when the model was built.
    """
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)


def make_optimizer(model: nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    params = model.parameters()
    if not settings.fused_optimizer:
        return torch.optim.SGD(params, lr=settings.lr, foreach=False)
    if settings.device.startswith("cuda"):
        return torch.optim.SGD(params, lr=settings.lr, fused=True)
    return torch.optim.SGD(params, lr=settings.lr, foreach=True)


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def autocast(settings: TrainSettings):
    if settings.precision == "fp32":
        return nullcontext()
    return torch.autocast(torch.device(settings.device).type, dtype=DTYPES[settings.precision])


class Trainer:
    """Owns the model, optimizer and step function for one run."""

    def __init__(self, model: nn.Module, settings: TrainSettings):
        self.settings = settings
        torch.manual_seed(settings.seed)
        init_weights(model)
        model.to(settings.device)
        if settings.channels_last:
            model.to(memory_format=torch.channels_last)
        self.model = model
        if settings.device.startswith("cuda"):
            # cuDNN times its algorithms once per shape and keeps the fastest: part of the fast path, off in --exact
            torch.backends.cudnn.benchmark = settings.channels_last or settings.compile
        # static shapes: the last, smaller batch gets its own graph rather than making every graph dynamic
        self.forward = torch.compile(model, dynamic=False) if settings.compile else model
        self.optimizer = make_optimizer(model, settings)
        # fp16 needs loss scaling; bf16 has fp32's range and needs none
        self.scaler = torch.amp.GradScaler(enabled=settings.precision == "fp16" and settings.device.startswith("cuda"))

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with autocast(self.settings):
            logits = self.forward(x)
            loss = F.cross_entropy(logits, y)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss.detach(), (logits.argmax(dim=1) == y).sum()

    @torch.inference_mode()
    def evaluate(self, loader) -> tuple[float, float, int]:
        """Accuracy over ``loader``, its seconds and its example count."""
        self.model.eval()
        device = self.settings.device
        correct = torch.zeros((), dtype=torch.int64, device=device)
        synchronize(device)
        start = time.perf_counter()
        for x, y in loader:
            with autocast(self.settings):
                correct += (self.forward(x).argmax(dim=1) == y).sum()
        synchronize(device)
        seconds = time.perf_counter() - start
        self.model.train()
        return correct.item() / loader.num_examples, seconds, loader.num_examples


def _progress(loader, epoch: int, epochs: int, show: bool):
    if not show:
        return loader
    from tqdm import tqdm

    return tqdm(loader, desc=f"epoch {epoch}/{epochs}", leave=False, unit="batch", file=sys.stderr)


def train(
    model: nn.Module, train_loader, test_loader, settings: TrainSettings,
    log: Callable[[str], None] = print, progress: bool | None = None,
) -> dict:  # fmt: skip
    """Train ``model`` and return what a run record holds about it.

    Raises ``Diverged`` (carrying the epoch) when the training loss stops being finite; the epochs finished
    before it are on the exception as ``.epochs``.
    """
    device = settings.device
    progress = sys.stderr.isatty() if progress is None else progress
    memory.reset_peak(device)
    trainer = Trainer(model, settings)
    epochs: list[dict] = []
    warmup_seconds = None
    for epoch in range(1, settings.epochs + 1):
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        seen = timed = 0
        synchronize(device)
        wall_start = start = time.perf_counter()
        for x, y in _progress(train_loader, epoch, settings.epochs, progress):
            loss, hits = trainer.step(x, y)
            loss_sum += loss * len(y)
            correct += hits
            seen += len(y)
            if warmup_seconds is None:  # the run's first step: warm-up, kept out of the steady-state rate
                synchronize(device)
                warmup_seconds = time.perf_counter() - start
                start = time.perf_counter()
            else:
                timed += len(y)
        synchronize(device)
        train_seconds = time.perf_counter() - start
        train_loss = loss_sum.item() / seen
        if not math.isfinite(train_loss):
            err = Diverged(epoch, train_loss)
            err.epochs = epochs
            raise err
        test_acc, eval_seconds, eval_examples = trainer.evaluate(test_loader)
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_acc": correct.item() / seen,
            "test_acc": test_acc,
            "train_examples": timed,
            "train_seconds": train_seconds,
            "train_examples_per_sec": timed / train_seconds if timed and train_seconds > 0 else None,
            "eval_examples_per_sec": eval_examples / eval_seconds if eval_seconds > 0 else None,
            "wall_seconds": time.perf_counter() - wall_start,
        }
        epochs.append(row)
        log(
            f"  epoch {epoch}/{settings.epochs}: loss {row['train_loss']:.3f}, train acc {row['train_acc']:.3f}, "
            f"test acc {test_acc:.3f}, {rate(row['train_examples_per_sec'])}"
        )
    return summarize(epochs, warmup_seconds, memory.peak_bytes(device))


def rate(examples_per_sec: float | None) -> str:
    if examples_per_sec is None:
        return "no steady-state steps (only the warm-up step ran)"
    return f"{examples_per_sec:,.0f} examples/sec"


def summarize(epochs: list[dict], warmup_seconds: float | None, peak_memory_bytes: int | None) -> dict:
    last = epochs[-1]
    train_examples = sum(e["train_examples"] for e in epochs)
    train_seconds = sum(e["train_seconds"] for e in epochs)
    eval_rates = [e["eval_examples_per_sec"] for e in epochs if e["eval_examples_per_sec"]]
    return {
        "epochs": epochs,
        "final": {
            "test_acc": last["test_acc"],
            "train_acc": last["train_acc"],
            "train_loss": last["train_loss"],
            "train_examples_per_sec": train_examples / train_seconds if train_examples and train_seconds > 0 else None,
            "eval_examples_per_sec": sum(eval_rates) / len(eval_rates) if eval_rates else None,
            "train_seconds": train_seconds + (warmup_seconds or 0.0),
            "warmup_seconds": warmup_seconds,
            "wall_seconds": sum(e["wall_seconds"] for e in epochs),
        },
        "peak_memory_bytes": peak_memory_bytes,
    }
