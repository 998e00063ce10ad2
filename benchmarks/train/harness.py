"""Train and evaluate one model: d2l's ``train_ch6``, timed properly, with an optional fast path.

Semantics by default are d2l's: Xavier-uniform init of every Conv2d and Linear weight, cross-entropy, plain SGD,
a test-set evaluation after each epoch. Loss and accuracy accumulate on the device, so a step never waits for
the host; the clock is read only after a device synchronize. Before the clock starts, every batch shape and
mode the run will see is run once and the state put back (``warm_up``): compilation, cuDNN autotuning and first
allocations are timed apart, as warm-up, and the graphs compiled inside the timed loop are counted (zero expected).
The evaluation is timed apart from training. With a ``checkpoint`` a run saves its state between epochs and, run
again, goes on from the last save (``benchmarks.train.checkpoint``), its clocks the sums of its segments'.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.measure import memory
from benchmarks.schema import tta
from benchmarks.schema.compute import ComputePath
from benchmarks.schema.recipe import D2L, TrainRecipe
from benchmarks.schema.records import EpochLog, EvalPoint, Final, Plateau, TrainResult
from benchmarks.train import distributed
from benchmarks.train.checkpoint import Checkpoint
from benchmarks.train.compute import OPTIMIZERS, apply_backend_settings, autocast

PLATEAU_CHECK_STEP = 100  # after this many steps, a run whose recent loss is still ln 10 is labelled on the plateau
PLATEAU_WINDOW = 20  # steps whose mean training loss is compared with ln 10


class Diverged(Exception):
    """The training loss stopped being finite; ``epochs`` holds the epochs finished before it."""

    def __init__(self, epoch: int, loss: float, epochs: list[EpochLog] | None = None):
        super().__init__(f"training loss became {loss} in epoch {epoch}")
        self.epoch, self.loss, self.epochs = epoch, loss, list(epochs or [])


@dataclass(frozen=True)
class TrainSettings:
    """The harness's inputs: the recipe's numbers, where to train, and how (``ComputePath``)."""

    epochs: int
    lr: float
    optimizer: str = "sgd"  # a key of compute.OPTIMIZERS
    device: str = "cpu"
    seed: int = 0
    fast: ComputePath = ComputePath()
    recipe: TrainRecipe = D2L  # momentum, weight decay, label smoothing, schedule, evaluations per epoch
    ddp: bool = False  # DistributedDataParallel over the process group torchrun set up (benchmarks.train.distributed)


def init_weights(model: nn.Module, scheme: str = "xavier") -> None:
    """d2l's ``train_ch6`` init: Xavier-uniform weights in every Conv2d and Linear, biases as PyTorch sets them;
    or ``kaiming``: He's normal init for ReLU nets (fan-in), which keeps the signal's scale through deep ReLU stacks
    where Xavier halves its variance at every layer of equal width.

    Every layer is reset first, so the result depends on the seed in force now, not on when the model was built.
    """
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            if scheme in ("kaiming", "centred"):  # "centred": then centred and scaled on data (``centre``)
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            elif scheme == "lsuv":  # then rescaled on data: ``lsuv``
                nn.init.orthogonal_(module.weight)
            else:
                nn.init.xavier_uniform_(module.weight)


LSUV_TOLERANCE, LSUV_ITERATIONS = 0.05, 10  # |std - 1| accepted, rescalings tried per layer


@torch.no_grad()
def lsuv(model: nn.Module, x: torch.Tensor) -> None:
    """Layer-sequential unit variance (Mishkin & Matas, 2016): orthogonal weights (``init_weights``), then, layer by
    layer in the order of the forward pass, each Conv2d and Linear weight divided by the standard deviation of its
    output on the batch ``x`` until that is within ``LSUV_TOLERANCE`` of 1. Eval mode: dropout adds no noise."""
    was_training = model.training
    model.eval()
    order: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda m, i, o: order.append(m)) for m in model.modules()
             if isinstance(m, (nn.Conv2d, nn.Linear))]  # fmt: skip
    model(x)
    for h in hooks:
        h.remove()
    for layer in dict.fromkeys(order):  # each once, in the order the forward pass reaches it
        seen = {}
        hook = layer.register_forward_hook(lambda m, i, o, seen=seen: seen.__setitem__("out", o))
        for _ in range(LSUV_ITERATIONS):
            model(x)
            std = seen["out"].float().std().item()
            if not math.isfinite(std) or std == 0 or abs(std - 1) < LSUV_TOLERANCE:
                break
            layer.weight.div_(std)
        hook.remove()
    model.train(was_training)


@torch.no_grad()
def centre(model: nn.Module, x: torch.Tensor) -> None:
    """The data-dependent init of Salimans & Kingma (2016, section 3): in one forward pass over the batch ``x``, each
    Conv2d and Linear, in the order the pass reaches it, gets the bias and weight scale that give each of its output
    channels zero mean and unit variance on ``x``; the layers after it see the corrected output. Why: with He's
    weights and PyTorch's biases, d2l's NiN starts with 2-7 of its 10 ReLU class maps negative on every image (20 of
    20 seeds), and a map that is never positive gets no gradient (benchmarks/PERFORMANCE.md). Eval mode."""
    was_training = model.training
    model.eval()

    def centre_output(layer: nn.Module, inputs, out: torch.Tensor) -> torch.Tensor:
        over = [0, *range(2, out.dim())]  # every image and position of a channel
        wide = out.float()
        mean, std = wide.mean(over), wide.std(over).clamp_min(1e-6)
        layer.weight.div_(std.view(-1, *[1] * (layer.weight.dim() - 1)).to(layer.weight.dtype))
        if layer.bias is not None:
            layer.bias.sub_(mean.to(layer.bias.dtype)).div_(std.to(layer.bias.dtype))
        per_channel = [1, -1, *[1] * (out.dim() - 2)]
        return ((out - mean.view(per_channel)) / std.view(per_channel)).to(out.dtype)

    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    hooks = [m.register_forward_hook(centre_output) for m in layers]
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
    model.train(was_training)


DATA_INITS = {"lsuv": lsuv, "centred": centre}  # the inits that need a batch of training images


def lr_factor(recipe: TrainRecipe, total_steps: int):
    """The schedule as a factor of the peak lr per step: constant, or one cycle (linear warm-up, linear decay)."""
    if recipe.schedule == "constant":
        return lambda step: 1.0
    warm = max(1, round(recipe.warmup_fraction * total_steps))

    def one_cycle(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total_steps - step) / max(1, total_steps - warm))

    return one_cycle


def last_layer(model: nn.Module) -> nn.Module | None:
    """The last Conv2d or Linear in the model's order of modules: NiN's last 1x1 conv, a classifier's output layer."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return layers[-1] if layers else None


def param_groups(model: nn.Module, recipe: TrainRecipe, optimizer: str = "sgd") -> list[dict] | object:
    """The parameters as the optimizer sees them: one group, or with ``recipe.last_layer_lr`` != 1 two, the last
    layer's with its own ``lr_scale`` (the schedule multiplies each group's base lr, so the scale holds throughout).
    For ``muon``, the convolution filters but the last layer's (kind ``muon``) apart from the rest (``adamw``)."""
    last = last_layer(model)
    mine = {id(p) for p in last.parameters()} if last is not None else set()
    if optimizer == "muon":
        filters = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d) and m is not last]
        apart = {id(p) for p in filters} | mine
        groups = [
            {"params": filters, "kind": "muon", "weight_decay": 0.0},  # Muon's steps are normalised already
            {"params": [p for p in model.parameters() if id(p) not in apart], "kind": "adamw"},
        ]
        if mine:
            groups.append({"params": list(last.parameters()), "kind": "adamw", "lr_scale": recipe.last_layer_lr})
        return [g for g in groups if g["params"]]
    if recipe.last_layer_lr == 1.0 or last is None:
        return model.parameters()
    return [
        {"params": [p for p in model.parameters() if id(p) not in mine], "lr_scale": 1.0},
        {"params": list(last.parameters()), "lr_scale": recipe.last_layer_lr},
    ]


def optimizer_step_flops(model: nn.Module, optimizer: str) -> int:
    """The optimizer's own FLOPs a step, from the network's shapes (the meta device will do): Muon's Newton-Schulz
    iterations on the filters it steps; 0 for SGD and AdamW (elementwise, negligible beside a batch's passes)."""
    if optimizer != "muon":
        return 0
    from benchmarks.train.muon import newton_schulz_flops

    groups = param_groups(model, D2L, "muon")
    return newton_schulz_flops([tuple(p.shape) for g in groups if g["kind"] == "muon" for p in g["params"]])


def make_optimizer(model: nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    optimizer = OPTIMIZERS[settings.optimizer](
        param_groups(model, settings.recipe, settings.optimizer), settings.lr, settings.recipe, settings.fast
    )
    for group in optimizer.param_groups:
        muon = group.get("kind") == "muon"
        group["lr"] = settings.recipe.muon_lr if muon else settings.lr * group.get("lr_scale", 1.0)
        group["initial_lr"] = group["lr"]  # the schedule's base: LambdaLR multiplies it by the factor
    return optimizer


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


class Trainer:
    """Owns the model, optimizer and step function for one run."""

    def __init__(self, model: nn.Module, settings: TrainSettings, sample: torch.Tensor | None = None):
        """``sample``: a batch of training images, which a data-dependent init (``lsuv``) needs."""
        self.settings = settings
        fast = settings.fast
        torch.manual_seed(settings.seed)
        init_weights(model, settings.recipe.init)
        model.to(settings.device)
        if fast.channels_last:
            model.to(memory_format=torch.channels_last)
        if settings.recipe.init in DATA_INITS:
            if sample is None:
                raise ValueError(f"init {settings.recipe.init} needs a batch of training images (Trainer's sample)")
            DATA_INITS[settings.recipe.init](model, sample)
        self.model = model
        apply_backend_settings(fast)
        if fast.compile:  # a fresh dynamo state per run, as in a fresh process: the recompile limit (8 graphs per
            torch._dynamo.reset()  # code object) counts this run's graphs, never those of runs before it in the process
        # static shapes: the last, smaller batch gets its own graph rather than making every graph dynamic
        compiled = (
            (lambda m: torch.compile(m, dynamic=False, mode=fast.compile_mode)) if fast.compile else (lambda m: m)
        )
        if settings.ddp:  # gradients averaged over the ranks; evaluation runs on the plain module, in shards
            from torch.nn.parallel import DistributedDataParallel

            index = torch.device(settings.device).index
            self.forward = compiled(DistributedDataParallel(model, device_ids=None if index is None else [index]))
            self.eval_forward = compiled(model)
        else:
            self.forward = self.eval_forward = compiled(model)
        self.ema = None  # recipe.ema > 0: an exponential moving average of the weights, which the evaluations use
        if settings.recipe.ema > 0:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            self.ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(settings.recipe.ema), use_buffers=True)
            self.eval_forward = compiled(self.ema.module)
        self.optimizer = make_optimizer(model, settings)
        self.schedule = None  # a per-step lr schedule, once the number of steps is known (``set_schedule``)
        # fp16 needs loss scaling; bf16 has fp32's range and needs none
        cuda = settings.device.startswith("cuda")
        self.scaler = torch.amp.GradScaler("cuda" if cuda else "cpu", enabled=fast.precision == "fp16" and cuda)

    def set_schedule(self, total_steps: int) -> None:
        if self.settings.recipe.schedule != "constant":
            factor = lr_factor(self.settings.recipe, total_steps)
            self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)

    def state(self) -> dict:
        """Everything a step changes: weights and buffers, optimizer, loss scaler and schedule."""
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(), "schedule": self.schedule.state_dict() if self.schedule else None,
            "ema": self.ema.state_dict() if self.ema else None,
        }  # fmt: skip

    def load_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        if self.schedule:
            self.schedule.load_state_dict(state["schedule"])
        if self.ema:
            self.ema.load_state_dict(state["ema"])

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with autocast(self.settings.device, self.settings.fast.precision):
            logits = self.forward(x)
            loss = F.cross_entropy(logits, y, label_smoothing=self.settings.recipe.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.settings.recipe.clip_grad_norm > 0:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the loss-scaled ones
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.recipe.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.schedule:
            self.schedule.step()
        if self.ema:
            self.ema.update_parameters(self.model)
        return loss.detach(), (logits.argmax(dim=1) == y).sum()

    @torch.inference_mode()
    def evaluate_batches(self, batches) -> torch.Tensor:
        """How many predictions over ``batches`` are right (a device tensor), in eval mode (of the weights' moving
        average, with ``recipe.ema``)."""
        evaluated = self.ema.module if self.ema else self.model
        evaluated.eval()
        correct = torch.zeros((), dtype=torch.int64, device=self.settings.device)
        for x, y in batches:
            with autocast(self.settings.device, self.settings.fast.precision):
                correct += (self.eval_forward(x).argmax(dim=1) == y).sum()
        evaluated.train()
        return correct

    def evaluate(self, loader) -> tuple[float, float, int]:
        """Accuracy over ``loader`` (over every rank's shard, with ``ddp``), its seconds and its example count."""
        device = self.settings.device
        synchronize(device)
        start = time.perf_counter()
        correct = self.evaluate_batches(loader)
        synchronize(device)
        seconds = time.perf_counter() - start
        right, total = correct.item(), loader.num_examples
        if self.settings.ddp:
            right, total = (int(v) for v in distributed.all_sum([right, total], device))
            seconds = distributed.all_max(seconds, device)
        return right / total, seconds, total


def graphs_compiled() -> int:
    """Graphs torch.compile has built in this process so far (0 when nothing was compiled)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def compile_cache_hits() -> int:
    """Inductor's FX-graph cache hits in this process so far: a warm-up that compiled with hits found a warm cache."""
    from torch._dynamo.utils import counters

    return int(counters["inductor"]["fxgraph_cache_hit"])


class CompileFellBack(RuntimeError):
    """torch.compile was asked for and the warm-up compiled nothing: the run would train eager under a record that
    says compiled."""


def warm_up_calls(fast) -> int:
    """Calls of each shape in the warm-up: one compiles it; CUDA-graph modes (``reduce-overhead``, ``max-autotune``)
    record their graph on a shape's second call and replay from the third, so they get three, all off the clock."""
    return 3 if fast.compile and fast.compile_mode in ("reduce-overhead", "max-autotune") else 1


def warm_up(trainer: Trainer, train_loader, test_loader) -> float:
    """Run every (batch shape, train/eval mode) the run will see once, then put the state back; the seconds taken.

    Compilation (one graph per shape and mode with ``dynamic=False``), cuDNN autotuning and first allocations
    happen here, off the clock. Weights, buffers, optimizer, scaler and schedule state and the random generators are restored
    afterwards, so the run trains exactly as it would have without the warm-up.
    """
    device = trainer.settings.device
    saved = copy.deepcopy(trainer.state())
    rng = torch.get_rng_state(), (torch.cuda.get_rng_state(device) if device.startswith("cuda") else None)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(warm_up_calls(trainer.settings.fast)):
        for x, y in train_loader.shape_samples():
            trainer.step(x, y)
        trainer.evaluate_batches(test_loader.shape_samples())
    synchronize(device)
    seconds = time.perf_counter() - start
    trainer.load_state(saved)
    torch.set_rng_state(rng[0])
    if rng[1] is not None:
        torch.cuda.set_rng_state(rng[1], device)
    return seconds


def eval_steps(batches: int, per_epoch: int) -> set[int]:
    """The batch counts (1-based) within an epoch after which the test set is evaluated: ``per_epoch`` points,
    evenly spaced, the last at the epoch's end."""
    per_epoch = max(1, min(per_epoch, batches))
    return {math.ceil(batches * k / per_epoch) for k in range(1, per_epoch + 1)}


@dataclass(frozen=True)
class WarmedUp:
    """What the warm-up left: its seconds, the graphs it compiled, and whether inductor's cache had them."""

    seconds: float
    graphs_before_clock: int  # graphs compiled in the process when the clock starts: more later are recompilations
    graphs: int  # graphs the warm-up compiled
    cache: str | None  # "warm", "cold"; None: not compiled


def warm_up_checked(trainer: Trainer, train_loader, test_loader) -> WarmedUp:
    """``warm_up``, then the run's memory peak reset (the warm-up's copy of the state and autotuning's workspaces
    are not the run's); raises ``CompileFellBack`` where a compiled run's warm-up compiled nothing."""
    fast, device = trainer.settings.fast, trainer.settings.device
    graphs_start, hits_start = graphs_compiled(), compile_cache_hits()
    seconds = warm_up(trainer, train_loader, test_loader)
    memory.reset_peak(device)
    graphs_before = graphs_compiled()
    if fast.compile and graphs_before == graphs_start:
        raise CompileFellBack("torch.compile was asked for, but the warm-up compiled no graph (it fell back to eager)")
    cache = ("warm" if compile_cache_hits() > hits_start else "cold") if fast.compile else None
    return WarmedUp(seconds, graphs_before, graphs_before - graphs_start, cache)


class PlateauWatch:
    """The ln 10 check: the mean training loss of the ``PLATEAU_WINDOW`` steps up to ``PLATEAU_CHECK_STEP`` (or
    the run's last step), summed on the device so that no step waits for it."""

    def __init__(self, total_steps: int, device: str) -> None:
        self.check_step = min(PLATEAU_CHECK_STEP, total_steps)
        self.window = min(PLATEAU_WINDOW, self.check_step)
        self.loss = torch.zeros((), device=device)
        self.step = 0

    def observe(self, loss: torch.Tensor) -> None:
        self.step += 1
        if self.check_step - PLATEAU_WINDOW < self.step <= self.check_step:
            self.loss += loss

    def result(self, final_train_loss: float) -> Plateau:
        return Plateau(self.check_step, self.loss.item() / self.window, final_train_loss)


@dataclass
class Progress:
    """What the run has done so far across epochs: the step clock, the examples, the evaluation points."""

    clock: float = 0.0  # the step clock: training steps only (the warm-up, with any compilation, is given beside it)
    examples: int = 0
    evals: list = field(default_factory=list)  # EvalPoint
    rank_rates: list = field(default_factory=list)  # with ddp: this rank's own examples/sec, per epoch


def global_totals(loss_total: float, right: int, seen: int, seconds: float, device: str):
    """One epoch's figures over every rank: sums of the loss, the right answers and the examples, and the slowest
    rank's clock."""
    loss_total, right, seen = distributed.all_sum([loss_total, right, seen], device)
    return loss_total, int(right), int(seen), distributed.all_max(seconds, device)


def run_epoch(trainer: Trainer, epoch: int, train_loader, test_loader, at: set[int], progress: Progress,
              plateau: PlateauWatch, log) -> EpochLog:  # fmt: skip
    """One pass over the training images, every step on the clock; at the steps in ``at`` the clock stops and the
    test set is evaluated (an ``EvalPoint`` each). Raises ``Diverged`` when the epoch's loss is not finite."""
    settings, device, batches = trainer.settings, trainer.settings.device, len(train_loader)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    train_seconds = eval_seconds = 0.0
    test_acc = None
    synchronize(device)
    start = wall_start = time.perf_counter()
    for i, (x, y) in enumerate(train_loader, 1):
        loss, hits = trainer.step(x, y)
        plateau.observe(loss)
        loss_sum += loss * len(y)
        correct += hits
        seen += len(y)
        if i in at:  # stop the clock, evaluate, restart it
            synchronize(device)
            train_seconds += time.perf_counter() - start
            test_acc, seconds, _ = trainer.evaluate(test_loader)
            eval_seconds += seconds
            done = int(distributed.all_sum([seen], device)[0]) if settings.ddp else seen
            point = EvalPoint(
                epoch - 1 + i / batches, progress.examples + done, progress.clock + train_seconds, test_acc
            )
            progress.evals.append(point)
            if i < batches:  # inside the epoch, with the clock stopped: a long epoch is not minutes of silence
                log(f"    epoch {point.epoch:.2f}: test acc {test_acc:.3f} after {point.examples:,} examples, "
                    f"{point.train_seconds:,.1f} s of training")  # fmt: skip
            start = time.perf_counter()
    loss_total, right = loss_sum.item(), correct.item()
    if settings.ddp:
        progress.rank_rates.append(seen / train_seconds if train_seconds > 0 else None)
        loss_total, right, seen, train_seconds = global_totals(loss_total, right, seen, train_seconds, device)
    train_loss = loss_total / seen
    if not math.isfinite(train_loss):
        raise Diverged(epoch, train_loss, [])
    progress.clock += train_seconds
    progress.examples += seen
    return EpochLog(
        epoch=epoch,
        train_loss=train_loss,
        train_acc=right / seen,
        test_acc=test_acc,
        timed_examples=seen,
        timed_seconds=train_seconds,
        train_examples_per_sec=seen / train_seconds if train_seconds > 0 else None,
        eval_examples_per_sec=len(at) * test_loader.num_examples / eval_seconds if eval_seconds > 0 else None,
        wall_seconds=time.perf_counter() - wall_start,
        eval_seconds=eval_seconds,
    )


@dataclass
class Segments:
    """What the run's earlier processes measured, where it was resumed from a checkpoint: their warm-ups, their
    memory peak, the graphs they compiled inside the timed loop, and the epochs after which each stopped."""

    warmup_seconds: float = 0.0
    peak_memory_bytes: int | None = None
    recompiled: int = 0
    resumed_after: list = field(default_factory=list)

    def with_this(self, warmed: WarmedUp, device: str) -> Segments:
        """These segments and this process's so far: what a save hands on, and what the run's figures add up."""
        peak = memory.peak_bytes(device)
        if self.peak_memory_bytes is not None:
            peak = max(peak or 0, self.peak_memory_bytes)
        return Segments(self.warmup_seconds + warmed.seconds, peak,
                        self.recompiled + graphs_compiled() - warmed.graphs_before_clock, list(self.resumed_after))  # fmt: skip


def snapshot(trainer: Trainer, train_loader, progress: Progress, plateau: PlateauWatch, epochs: list,
             segments: Segments) -> dict:  # fmt: skip
    """Everything a resumed run needs to train on exactly as this one would, and what it has measured so far: tensors
    and plain values only (the measurements as dicts), so that it loads with ``weights_only``."""
    device = trainer.settings.device
    return {
        "trainer": trainer.state(),
        "rng": {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state(device) if device.startswith("cuda") else None,
                "order": train_loader.generator.get_state(), "augment": train_loader.augment_generator.get_state()},
        "epochs": [dataclasses.asdict(e) for e in epochs], "progress": dataclasses.asdict(progress),
        "plateau": (plateau.step, plateau.loss), "segments": dataclasses.asdict(segments),
    }  # fmt: skip


def restore(state: dict, trainer: Trainer, train_loader, plateau: PlateauWatch) -> tuple[list, Progress, Segments]:
    """A snapshot put back: the trainer's state and the generators; (the epochs, the progress, the segments)."""
    device = trainer.settings.device
    trainer.load_state(state["trainer"])
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] is not None:
        torch.cuda.set_rng_state(rng["cuda"], device)
    train_loader.generator.set_state(rng["order"])
    train_loader.augment_generator.set_state(rng["augment"])
    plateau.step, plateau.loss = state["plateau"][0], state["plateau"][1].to(device)
    saved = state["progress"]
    progress = Progress(**{**saved, "evals": [EvalPoint(**e) for e in saved["evals"]]})
    return [EpochLog(**e) for e in state["epochs"]], progress, Segments(**state["segments"])


def train(
    model: nn.Module, train_loader, test_loader, settings: TrainSettings, log: Callable[[str], None] = print,
    checkpoint: Checkpoint | None = None,
) -> TrainResult:  # fmt: skip
    """Train ``model`` and return what a run record holds about it.

    Every shape and mode is warmed up first (``warm_up_checked``); then every training step is on the clock, and
    each evaluation of the test set (``recipe.evals_per_epoch`` per epoch, the last at the epoch's end) is timed
    apart (``run_epoch``). Raises ``Diverged`` (carrying the epoch, and the epochs finished before it) when the
    training loss stops being finite. With ``checkpoint``, a saved state of this run is resumed after the warm-up,
    and the state is saved after an epoch when the checkpoint is due (never after the last: the record follows).
    """
    device = settings.device
    trainer = Trainer(model, settings, sample=next(iter(train_loader.shape_samples()))[0])
    batches = len(train_loader)
    trainer.set_schedule(settings.epochs * batches)
    warmed = warm_up_checked(trainer, train_loader, test_loader)
    at = eval_steps(batches, settings.recipe.evals_per_epoch)
    progress, plateau = Progress(), PlateauWatch(settings.epochs * batches, device)
    epochs: list[EpochLog] = []
    segments = Segments()
    saved = checkpoint.load() if checkpoint else None
    if saved is not None:
        epochs, progress, segments = restore(saved, trainer, train_loader, plateau)
        segments.resumed_after.append(len(epochs))
        log(f"  resumed after epoch {len(epochs)}/{settings.epochs} from {checkpoint.path.name}")
    for epoch in range(len(epochs) + 1, settings.epochs + 1):
        try:
            row = run_epoch(trainer, epoch, train_loader, test_loader, at, progress, plateau, log)
        except Diverged as err:
            raise Diverged(err.epoch, err.loss, epochs) from None
        log(
            f"  epoch {epoch}/{settings.epochs}: loss {row.train_loss:.3f}, train acc {row.train_acc:.3f}, "
            f"test acc {row.test_acc:.3f}, {rate(row.train_examples_per_sec)}"
        )
        if checkpoint and epoch < settings.epochs and checkpoint.due():
            upto = segments.with_this(warmed, device)
            took = checkpoint.save(snapshot(trainer, train_loader, progress, plateau, [*epochs, row], upto))
            row = dataclasses.replace(row, wall_seconds=row.wall_seconds + took)  # the run's wall time holds it
        epochs.append(row)
    total = segments.with_this(warmed, device)
    recompiled = total.recompiled
    if recompiled:
        log(f"  warning: {recompiled} graph(s) compiled inside the timed loop; the rates include compilation")
    test_examples = test_loader.num_examples
    if settings.ddp:
        test_examples = int(distributed.all_sum([test_examples], device)[0])
    checked = plateau.result(epochs[-1].train_loss)
    if checked.at_check:
        log(f"  on the ln 10 plateau after {checked.check_step} steps (loss {checked.loss_at_check:.4f})"
            + ("; still there at the end" if checked.at_end else "; it left later"))  # fmt: skip
    rates = [r for r in progress.rank_rates if r]
    return train_result(epochs, total.warmup_seconds, total.peak_memory_bytes, recompiled,
                        len(at) * test_examples, progress.evals, checked, warmed=warmed,
                        rank_examples_per_sec=sum(rates) / len(rates) if rates else None,
                        resumed_after=total.resumed_after)  # fmt: skip


def rate(examples_per_sec: float | None) -> str:
    if examples_per_sec is None:
        return "no steady-state steps (only the warm-up step ran)"
    return f"{examples_per_sec:,.0f} examples/sec"


def train_result(
    epochs: list[EpochLog], warmup_seconds: float | None, peak_memory_bytes: int | None,
    graphs_in_timed: int | None = None, evaluated_per_epoch: int | None = None, evals: list | None = None,
    plateau: Plateau | None = None, warmed: WarmedUp | None = None, rank_examples_per_sec: float | None = None,
    resumed_after: list | None = None,
) -> TrainResult:  # fmt: skip
    """The run's ``TrainResult``, its ``Final`` built here once from the epochs and the warm-up."""
    last = epochs[-1]
    timed_examples = sum(e.timed_examples for e in epochs)
    timed_seconds = sum(e.timed_seconds for e in epochs)
    eval_seconds = sum(e.eval_seconds or 0.0 for e in epochs)
    evaluated = (evaluated_per_epoch or 0) * len(epochs)
    final = Final(
        test_acc=last.test_acc,
        train_acc=last.train_acc,
        train_loss=last.train_loss,
        train_examples_per_sec=timed_examples / timed_seconds if timed_examples and timed_seconds > 0 else None,
        eval_examples_per_sec=evaluated / eval_seconds if evaluated and eval_seconds > 0 else None,
        train_seconds=timed_seconds + (warmup_seconds or 0.0),
        warmup_seconds=warmup_seconds,
        wall_seconds=sum(e.wall_seconds for e in epochs) + (warmup_seconds or 0.0),
        graphs_compiled_in_timed=graphs_in_timed,
        time_to_accuracy=tta.times_to_targets(evals or []),
        plateau=plateau,
        graphs_compiled_in_warmup=warmed.graphs if warmed else None,
        compile_cache=warmed.cache if warmed else None,
        tta_clock="steps" if warmed else None,
        resumed_after_epochs=list(resumed_after or []),
    )
    return TrainResult(epochs, final, peak_memory_bytes, list(evals or []), rank_examples_per_sec)
