"""The recipe axis, on-device augmentation and time to accuracy."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archs
from benchmarks.data.device_data import DeviceLoader, augment
from benchmarks.run.profiles import PROFILES, resolve
from benchmarks.schema import recipe as recipes
from benchmarks.schema import tta
from benchmarks.schema.compute import EXACT
from benchmarks.schema.records import EvalPoint
from benchmarks.train.harness import Trainer, TrainSettings, eval_steps, init_weights, lr_factor, train
from tests.test_harness import learnable_data, quiet


def configs(**overrides):
    entry = archs.get_entry("lenet")
    return resolve(entry, PROFILES["full"], "m", "cpu", 0, EXACT, overrides)


def test_the_recipe_axis_changes_what_it_says_and_nothing_else():
    book, fast = configs(), configs(recipe="fast")
    entry = archs.get_entry("lenet").recipe
    assert (book.optimizer, book.lr, book.batch_size, book.recipe) == ("sgd", entry.lr, entry.batch_size, recipes.D2L)
    assert (fast.optimizer, fast.lr, fast.batch_size) == ("muon", 0.001, 64)  # the README's fast recipe
    assert fast.recipe.schedule == "onecycle" and fast.recipe.label_smoothing == 0.1
    differing = {k for k, v in book.as_dict().items() if fast.as_dict()[k] != v}
    assert differing == {"optimizer", "lr", "batch_size", "recipe"}
    assert configs(recipe="fast", lr=0.01).lr == 0.01  # an explicit value still wins
    assert book.run_id() != fast.run_id()


def test_recipe_set_changes_the_named_parts_and_renames_the_recipe():
    changed = configs(recipe="fast", recipe_parts=["label_smoothing=0", "flip=off", "init=xavier"])
    assert changed.recipe.label_smoothing == 0.0 and changed.recipe.flip is False and changed.recipe.init == "xavier"
    untouched = {"momentum", "nesterov", "weight_decay", "schedule", "warmup_fraction", "translate", "evals_per_epoch"}
    assert all(getattr(changed.recipe, k) == getattr(recipes.FAST.parts, k) for k in untouched)
    assert changed.recipe.name == "fast[label_smoothing=0.0,flip=False,init=xavier]"  # never shown as plain "fast"
    assert changed.run_id() != configs(recipe="fast").run_id()
    with pytest.raises(ValueError, match="schedule is one of constant, onecycle"):
        recipes.with_parts(recipes.FAST.parts, ["schedule=cosine"])


def test_kaiming_init_keeps_the_scale_that_xavier_halves():
    """He init: weight variance 2 / fan-in; Xavier: 2 / (fan-in + fan-out), half of it where they are equal."""
    torch.manual_seed(0)
    conv = nn.Sequential(nn.Conv2d(256, 256, 1))
    init_weights(conv, "kaiming")
    kaiming = conv[0].weight.var().item()
    init_weights(conv)
    xavier = conv[0].weight.var().item()
    assert kaiming == pytest.approx(2 / 256, rel=0.05) and xavier == pytest.approx(1 / 256, rel=0.05)


def test_the_d2l_recipe_is_d2l_train_ch6_to_the_bit():
    """LeNet through the harness on --exact with d2l's recipe, against train_ch6 written out by hand: same
    losses and weights, bit for bit."""
    images, labels = learnable_data(512)
    test_images, test_labels = learnable_data(128, seed=1)

    torch.manual_seed(7)
    model = archs.get_model("lenet")
    loader = DeviceLoader(images, labels, 64, 28, shuffle=True, seed=7)
    result = train(model, loader, DeviceLoader(test_images, test_labels, 64, 28),
                   TrainSettings(epochs=2, lr=0.9, seed=7, fast=EXACT), log=quiet)  # fmt: skip

    reference = archs.get_model("lenet")
    torch.manual_seed(7)
    init_weights(reference)  # train_ch6: Xavier-uniform on Conv2d and Linear
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.9, foreach=False)
    hand_loader = DeviceLoader(images, labels, 64, 28, shuffle=True, seed=7)
    losses = []
    for _ in range(2):
        total = 0.0
        for x, y in hand_loader:
            loss = F.cross_entropy(reference(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(y)
        losses.append(total.item() / 512)
    assert [e.train_loss for e in result.epochs] == losses
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))


def test_augmentation_keeps_labels_with_images_and_is_seeded():
    n = 64
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    labels = torch.arange(n) % 10
    images[:, 10:18, 10:18] = (labels * 20 + 30).view(n, 1, 1).to(torch.uint8)  # each image shows its label
    first = list(DeviceLoader(images, labels, 16, 28, shuffle=True, seed=3, flip=True, translate=2))
    again = list(DeviceLoader(images, labels, 16, 28, shuffle=True, seed=3, flip=True, translate=2))
    plain = list(DeviceLoader(images, labels, 16, 28, shuffle=True, seed=3))
    for (x, y), (x2, y2), (_, y3) in zip(first, again, plain):
        assert torch.equal(x, x2) and torch.equal(y, y2)  # seeded
        assert torch.equal(y, y3)  # the order of examples is the one without augmentation
        shown = (x.amax(dim=(1, 2, 3)) * 255).round().long()
        assert torch.equal(shown, y * 20 + 30)  # every image still carries its own label
    moved = sum(not torch.equal(a, b) for (a, _), (b, _) in zip(first, plain))
    assert moved == len(first)


def test_translation_moves_by_at_most_the_limit():
    image = torch.zeros(1, 28, 28, dtype=torch.uint8)
    image[0, 14, 14] = 255
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        (row, col), = torch.nonzero(augment(image, g, flip=False, translate=2)[0]).tolist()  # fmt: skip
        assert abs(row - 14) <= 2 and abs(col - 14) <= 2


def test_one_cycle_warms_up_then_decays_to_zero():
    factor = lr_factor(recipes.FAST.parts, total_steps=100)
    values = [factor(s) for s in range(100)]
    assert values[0] == pytest.approx(1 / 20) and values[19] == 1.0
    assert all(a >= b for a, b in zip(values[19:], values[20:])) and values[-1] == pytest.approx(1 / 80)
    assert lr_factor(recipes.D2L, 100)(57) == 1.0


def test_evaluations_per_epoch_are_spaced_and_off_the_clock():
    assert eval_steps(10, 4) == {3, 5, 8, 10} and eval_steps(3, 8) == {1, 2, 3} and eval_steps(10, 1) == {10}
    images, labels = learnable_data(512)
    test_images, test_labels = learnable_data(128, seed=1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    recipe = recipes.TrainRecipe(evals_per_epoch=4)
    result = train(model, DeviceLoader(images, labels, 64, 28, shuffle=True), DeviceLoader(test_images, test_labels,
                   64, 28), TrainSettings(epochs=2, lr=0.1, recipe=recipe), log=quiet)  # fmt: skip
    assert [e.epoch for e in result.evals] == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert [e.examples for e in result.evals] == [128, 256, 384, 512, 640, 768, 896, 1024]
    seconds = [e.train_seconds for e in result.evals]
    assert seconds == sorted(seconds)
    # the step clock: training steps only, the evaluations off it and the warm-up beside it
    assert seconds[-1] == pytest.approx(result.final.train_seconds - result.final.warmup_seconds)
    assert result.final.tta_clock == "steps"
    assert result.epochs[-1].test_acc == result.evals[-1].test_acc


def log(*points):
    return [EvalPoint(i + 1.0, 1000 * (i + 1), seconds, acc) for i, (seconds, acc) in enumerate(points)]


def test_time_to_accuracy_on_known_logs():
    run = log((10.0, 0.80), (20.0, 0.86), (30.0, 0.91), (40.0, 0.905))
    assert tta.time_to(run, 0.85) == 20.0 and tta.time_to(run, 0.90) == 30.0
    assert tta.time_to(run, 0.92) is None  # not reached
    assert tta.times_to_targets(run) == {"0.85": 20.0, "0.90": 30.0, "0.92": None}


def test_across_seeds_median_olympic_and_not_reached():
    assert tta.across_seeds([30.0, 10.0, 20.0]) == (20.0, None, 0)  # olympic needs 5
    median, olympic, missed = tta.across_seeds([50.0, 10.0, 20.0, 30.0, 40.0])
    assert (median, olympic, missed) == (30.0, 30.0, 0)  # drop 10 and 50
    assert tta.across_seeds([10.0, 20.0, 30.0, 40.0, None]) == (30.0, 30.0, 1)  # the miss is the slowest, dropped
    assert tta.across_seeds([10.0, None, None, 40.0, None]) == (None, None, 3)  # most missed: not reached
    assert math.isnan(float("nan")) and tta.across_seeds([]) == (None, None, 0)


def one_step(model, recipe, lr=1.0, optimizer="sgd"):
    """One harness step of ``model`` on a fixed batch; the parameters before and after it."""
    settings = TrainSettings(epochs=1, lr=lr, optimizer=optimizer, fast=EXACT, recipe=recipe)
    trainer = Trainer(model, settings)
    before = [p.detach().clone() for p in model.parameters()]
    x, y = torch.ones(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    trainer.step(x, y)
    return before, [p.detach().clone() for p in model.parameters()]


def test_clipping_bounds_the_gradients_global_norm():
    """Plain SGD at lr 1 moves the weights by the gradient itself: with clip_grad_norm=c the whole move has L2
    norm c (the unclipped gradient of this model is far larger); without it, larger."""
    big = lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 10))  # noqa: E731
    torch.manual_seed(0)
    before, after = one_step(big(), recipes.TrainRecipe(clip_grad_norm=0.5))
    moved = torch.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(after, before)))
    assert moved.item() == pytest.approx(0.5, rel=1e-4)
    torch.manual_seed(0)
    before, after = one_step(big(), recipes.TrainRecipe())
    assert torch.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(after, before))).item() > 1.0


def test_last_layer_lr_scales_only_the_last_layers_step():
    """SGD: each weight moves by lr x its gradient; with last_layer_lr=0.1 the last Linear moves a tenth as far as
    it does at 1.0 from the same start, every other layer exactly as far."""
    net = lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10))  # noqa: E731
    torch.manual_seed(0)
    b1, a1 = one_step(net(), recipes.TrainRecipe(), lr=0.5)
    torch.manual_seed(0)
    b2, a2 = one_step(net(), recipes.TrainRecipe(last_layer_lr=0.1), lr=0.5)
    steps1 = [a - b for a, b in zip(a1, b1)]
    steps2 = [a - b for a, b in zip(a2, b2)]
    assert all(torch.equal(x, y) for x, y in zip(b1, b2))  # the same start
    for first, scaled in zip(steps1[:2], steps2[:2]):  # the first Linear: weight and bias
        assert torch.allclose(first, scaled, atol=1e-7)
    for first, scaled in zip(steps1[2:], steps2[2:]):  # the last Linear: a tenth of the step
        assert torch.allclose(first * 0.1, scaled, atol=1e-7) and first.abs().max() > 0


def test_new_recipe_parts_are_settable_and_named():
    changed = configs(recipe="fast", recipe_parts=["clip_grad_norm=1", "last_layer_lr=0.1"])
    assert changed.recipe.clip_grad_norm == 1.0 and changed.recipe.last_layer_lr == 0.1
    assert changed.recipe.name == "fast[clip_grad_norm=1.0,last_layer_lr=0.1]"
    assert changed.run_id() != configs(recipe="fast").run_id()


def test_a_committed_record_keeps_the_id_its_file_name_carries():
    """Recipe parts added later are left out of the id while at their default: the records written before them
    keep their ids (and so their files and their rows in the leaderboard)."""
    from pathlib import Path

    from benchmarks.schema import records

    folder = Path("results/superseded/adamw-fast-recipe/cpu-amd-zen4-avx512bf16-2t")  # written before the parts
    path = next(folder.glob("lenet__cpu__*seed0.json"))
    record, problem = records.read_record(path)
    assert problem is None and record.run_id in path.name


def test_a_run_on_the_ln10_plateau_is_labelled_in_its_record():
    """A model whose logits are all zero guesses uniformly: its loss is ln 10 on every batch, with or without label
    smoothing, and lr 0 keeps it there; the record says so, at the check and at the end. A model that learns is not
    labelled."""
    from benchmarks.schema import records

    class Zero(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return torch.zeros(len(x), 10) * self.w

    images, labels = learnable_data(64 * 30)
    test_images, test_labels = learnable_data(128, seed=1)
    loaders_ = lambda: (
        DeviceLoader(images, labels, 64, 28, shuffle=True),
        DeviceLoader(test_images, test_labels, 64, 28),
    )  # noqa: E731
    stuck = train(Zero(), *loaders_(), TrainSettings(epochs=1, lr=0.0, recipe=recipes.TrainRecipe(label_smoothing=0.1)),
                  log=quiet).final.plateau  # fmt: skip
    assert stuck.check_step == 30  # fewer steps than the check's: checked at the last
    assert stuck.loss_at_check == pytest.approx(math.log(10), abs=1e-5) and stuck.at_check and stuck.at_end
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    learned = train(model, *loaders_(), TrainSettings(epochs=1, lr=0.1), log=quiet).final.plateau
    assert not learned.at_check and not learned.at_end
    record = records.from_json(__import__("json").loads(records.to_json(_record_with(stuck))))
    assert record.final.plateau == stuck and record.final.plateau.at_check


def _record_with(plateau):
    from tests.records_by_hand import make_record

    _, record = make_record("nin", 0, 0.1, 100.0)
    return dataclasses.replace(record, final=dataclasses.replace(record.final, plateau=plateau))


# The fast recipe as the README and benchmarks/PERFORMANCE.md state it, written here by hand
FAST_LR_DOC, FAST_INIT_DOC, FAST_LAST_DOC = 0.001, "kaiming", 1.0
DOCUMENTED_FAST = dict(
    optimizer="muon", lr=FAST_LR_DOC, muon_lr=0.02, batch_size=64, weight_decay=0.05, label_smoothing=0.1,
    schedule="onecycle", warmup_fraction=0.2, init=FAST_INIT_DOC, flip=False, translate=0, clip_grad_norm=0.0, last_layer_lr=FAST_LAST_DOC,
)  # fmt: skip


def test_the_fast_recipe_is_the_documented_one():
    config = configs(recipe="fast")
    got = {k: getattr(config, k) if hasattr(config, k) and k in ("optimizer", "lr", "batch_size") else
           getattr(config.recipe, k) for k in DOCUMENTED_FAST}  # fmt: skip
    assert got == DOCUMENTED_FAST
    book = configs()  # d2l's: the entry's own optimizer, lr and batch, and nothing else of the fast recipe
    assert (book.optimizer, book.lr, book.batch_size) == ("sgd", 0.9, 256)  # d2l 6.6: LeNet at lr 0.9, batch 256
    assert book.recipe == recipes.TrainRecipe() and book.recipe.init == "xavier" and book.recipe.weight_decay == 0


def test_the_fast_recipe_trains_as_a_hand_written_loop():
    """LeNet under the fast recipe through the harness (on --exact, fp32) against the recipe written out by hand
    from its documentation: He-normal init, cross-entropy with label smoothing, one cycle (linear warm-up over 20%
    of the steps to the peak lr, then linear decay to 0) on both optimizers; Muon on the convolution filters (Nesterov
    momentum 0.95, five Newton-Schulz steps of Keller Jordan's quintic, no weight decay, peak lr muon_lr), AdamW with
    decoupled weight decay on every other parameter."""
    doc = DOCUMENTED_FAST
    images, labels = learnable_data(512)
    test_images, test_labels = learnable_data(128, seed=1)
    config = configs(recipe="fast")
    torch.manual_seed(7)
    model = archs.get_model("lenet")
    loader = DeviceLoader(images, labels, doc["batch_size"], 28, shuffle=True, seed=7)
    result = train(model, loader, DeviceLoader(test_images, test_labels, 64, 28),
                   TrainSettings(epochs=2, lr=config.lr, optimizer=config.optimizer, seed=7, fast=EXACT,
                                 recipe=config.recipe), log=quiet)  # fmt: skip

    reference = archs.get_model("lenet")
    torch.manual_seed(7)
    layers = [m for m in reference.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for m in reference.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
        if isinstance(m, (nn.Conv2d, nn.Linear)):  # He: normal, std sqrt(2 / fan-in)
            with torch.no_grad():
                m.weight.normal_(0, math.sqrt(2 / m.weight[0].numel()))
    scale = {id(p): (doc["last_layer_lr"] if any(p is q for q in layers[-1].parameters()) else 1.0)
             for p in reference.parameters()}  # fmt: skip
    params = list(reference.parameters())
    filters = {id(m.weight) for m in reference.modules() if isinstance(m, nn.Conv2d)}  # LeNet's last layer is Linear
    m1, m2 = [torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params]
    total, steps = 2 * 8, 0
    warm = round(doc["warmup_fraction"] * total)
    hand_loader = DeviceLoader(images, labels, doc["batch_size"], 28, shuffle=True, seed=7)
    losses = []
    for _ in range(2):
        loss_sum = 0.0
        for x, y in hand_loader:
            logp = torch.log_softmax(reference(x), dim=1)
            eps = doc["label_smoothing"]
            loss = (1 - eps) * -logp.gather(1, y[:, None]).mean() + eps * -logp.mean()
            for p in params:
                p.grad = None
            loss.backward()
            lr = doc["lr"] * ((steps + 1) / warm if steps < warm else (total - steps) / (total - warm))
            steps += 1
            with torch.no_grad():
                for p, a, b in zip(params, m1, m2):
                    if id(p) in filters:  # Muon, as Keller Jordan's post writes it
                        a.mul_(0.95).add_(p.grad)  # the momentum buffer (``a``), then Nesterov's look-ahead
                        x = (p.grad + 0.95 * a).reshape(len(p), -1)
                        x = x / (x.norm() + 1e-7)  # LeNet's filter matrices are wide: no transpose
                        for _ in range(5):
                            s = x @ x.T
                            x = 3.4445 * x + (-4.7750 * s + 2.0315 * s @ s) @ x
                        lr_muon = doc["muon_lr"] * lr / doc["lr"]  # the same one cycle, at Muon's peak
                        p.sub_(lr_muon * x.view_as(p))
                        continue
                    lr_p = lr * scale[id(p)]
                    p.mul_(1 - lr_p * doc["weight_decay"])
                    a.mul_(0.9).add_(p.grad, alpha=0.1)
                    b.mul_(0.999).addcmul_(p.grad, p.grad, value=0.001)
                    p.sub_(lr_p * (a / (1 - 0.9**steps)) / ((b / (1 - 0.999**steps)).sqrt() + 1e-8))
            loss_sum += loss.item() * len(y)
        losses.append(loss_sum / 512)
    assert [e.train_loss for e in result.epochs] == pytest.approx(losses, rel=1e-4)
    for a, b in zip(model.state_dict().values(), reference.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def layer_outputs(model: nn.Module, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Every Conv2d and Linear output of one eval-mode forward pass over ``x``, with hooks of the test's own, and the
    model's output."""
    outputs = []
    hooks = [m.register_forward_hook(lambda m, i, o: outputs.append(o)) for m in model.modules()
             if isinstance(m, (nn.Conv2d, nn.Linear))]  # fmt: skip
    with torch.no_grad():
        scores = model.eval()(x)
    for h in hooks:
        h.remove()
    return outputs, scores


def test_lsuv_gives_every_layer_unit_output_variance_on_the_batch_it_saw():
    """LSUV's definition (Mishkin & Matas): orthogonal weights, then each layer's output standard deviation on the
    batch rescaled to 1, in the order of the forward pass; checked here with hooks of the test's own."""
    from benchmarks.train import harness

    torch.manual_seed(0)
    model = archs.get_model("nin")
    x = torch.rand(32, 1, 67, 67)
    init_weights(model, "lsuv")
    harness.lsuv(model, x)
    outputs, _ = layer_outputs(model, x)
    stds = [o.std().item() for o in outputs]
    assert len(stds) == 12 and all(abs(s - 1) < 0.05 for s in stds), stds
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    w = conv.weight.reshape(len(conv.weight), -1)
    gram = w @ w.T / (w @ w.T).diagonal().mean()  # orthogonal rows, up to LSUV's one scale per layer
    assert torch.allclose(gram, torch.eye(len(w)), atol=1e-4)


def test_centred_init_gives_every_output_channel_zero_mean_and_unit_variance_on_the_batch_it_saw():
    """Salimans & Kingma's data-dependent init (2016, section 3): after it, each Conv2d and Linear output channel,
    over the batch's images and positions, has mean 0 and standard deviation 1, every layer seeing the corrected
    layers before it; so none of NiN's ten ReLU class maps is negative on every image. Checked with hooks of the
    test's own, on a fresh forward pass."""
    from benchmarks.train import harness

    torch.manual_seed(0)
    model = archs.get_model("nin")
    x = torch.rand(64, 1, 67, 67)
    init_weights(model, "centred")
    harness.centre(model, x)
    outputs, scores = layer_outputs(model, x)
    assert len(outputs) == 12
    for out in outputs:
        per_channel = out.transpose(0, 1).reshape(out.shape[1], -1)
        assert per_channel.mean(1).abs().max() < 1e-3 and (per_channel.std(1) - 1).abs().max() < 1e-3
    assert ((scores > 0).float().mean(0) > 0).all()  # every class scores above zero on some image


def test_muon_steps_the_filters_orthogonally_and_the_rest_exactly_as_adamw():
    """Muon's filters (all convolutions but the last layer) get the Newton-Schulz orthogonalised momentum, each
    singular value within the quintic's band (about 0.68-1.13, Keller Jordan's coefficients); everything else is
    stepped exactly as torch.optim.AdamW steps it."""
    from benchmarks.train import harness
    from benchmarks.train.muon import MuonWithAdamW, orthogonalize

    g = torch.randn(96, 121, generator=torch.Generator().manual_seed(0))
    for dtype in (torch.float32, torch.bfloat16):  # --muon-precision: bf16 rounds, and stays in the band
        u = orthogonalize(g, dtype=dtype)
        singular = torch.linalg.svdvals(u.float())
        assert u.dtype == dtype and 0.6 < singular.min() and singular.max() < 1.2, dtype
    model = archs.get_model("nin")
    groups = harness.param_groups(model, recipes.FAST_PARTS, "muon")
    filters = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)][:-1]  # NiN's last 1x1 conv is the head
    assert [id(p) for p in groups[0]["params"]] == [id(p) for p in filters] and groups[0]["kind"] == "muon"
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    torch.manual_seed(0)
    a, b = nn.Parameter(torch.randn(5, 3)), None
    b = nn.Parameter(a.detach().clone())
    ours = MuonWithAdamW([{"params": [a], "kind": "adamw"}], lr=0.01, weight_decay=0.05)
    torchs = torch.optim.AdamW([b], lr=0.01, weight_decay=0.05)
    for _ in range(10):
        g = torch.randn(5, 3)
        a.grad, b.grad = g.clone(), g.clone()
        ours.step()
        torchs.step()
    assert torch.allclose(a, b, atol=1e-6)


def test_muon_steps_filters_of_one_shape_together_exactly_as_one_at_a_time():
    """The batched step (filters of one matrix shape stacked, multi-tensor momentum, torch's fused or foreach AdamW)
    against Muon written out one filter at a time (Keller Jordan's: Nesterov momentum 0.95, a tall matrix
    transposed and its step scaled by sqrt(rows / columns)): two filters of one shape, a tall one, a wide one, in
    channels-last memory, as the harness keeps them."""
    from benchmarks.train.muon import MuonWithAdamW

    shapes = [(8, 4, 3, 3), (8, 4, 3, 3), (48, 2, 3, 3), (6, 8, 1, 1)]  # 8x36 twice, 48x18 tall, 6x8
    torch.manual_seed(0)
    filters = [torch.randn(s).to(memory_format=torch.channels_last) for s in shapes]
    biases = [torch.randn(s[0]) for s in shapes]
    for impl in ({"fused": True}, {"foreach": True}):
        ours = [nn.Parameter(f.clone()) for f in filters], [nn.Parameter(b.clone()) for b in biases]
        hand = [f.clone() for f in filters], [b.clone() for b in biases]
        adamw_hand = torch.optim.AdamW([nn.Parameter(b.clone()) for b in biases], lr=0.01, weight_decay=0.05)
        opt = MuonWithAdamW([{"params": ours[0], "kind": "muon", "weight_decay": 0.0},
                             {"params": ours[1], "kind": "adamw"}], lr=0.01, weight_decay=0.05,
                            adamw_impl=impl)  # fmt: skip
        opt.param_groups[0]["lr"] = 0.02
        momenta = [torch.zeros(len(f), f[0].numel()) for f in filters]
        for _ in range(4):
            grads = [torch.randn(s) for s in shapes]
            for p, g in zip(ours[0], grads):
                p.grad = g.clone().to(memory_format=torch.channels_last)
            for p, q in zip(ours[1], adamw_hand.param_groups[0]["params"]):
                p.grad = q.grad = torch.randn(len(p))
            opt.step()
            adamw_hand.step()
            for w, g, buf in zip(hand[0], grads, momenta):
                g = g.reshape(len(g), -1)
                buf.mul_(0.95).add_(g)
                x = g + 0.95 * buf
                tall = x.size(0) > x.size(1)
                x = x.T if tall else x
                x = x / (x.norm() + 1e-7)
                for _ in range(5):
                    s = x @ x.T
                    x = 3.4445 * x + (-4.7750 * s + 2.0315 * s @ s) @ x
                x = x.T if tall else x
                w.sub_(0.02 * math.sqrt(max(1.0, x.size(0) / x.size(1))) * x.view_as(w))
        for p, w in zip(ours[0], hand[0]):
            assert torch.allclose(p, w, atol=1e-5), impl
        for p, q in zip(ours[1], adamw_hand.param_groups[0]["params"]):
            assert torch.allclose(p, q, atol=1e-6), impl


def test_muon_trains_a_network_through_the_harness_with_its_own_lr():
    train_loader = DeviceLoader(*learnable_data(512), 64, 28, shuffle=True)
    test_loader = DeviceLoader(*learnable_data(256, seed=1), 64, 28)
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 10, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    recipe = dataclasses.replace(recipes.FAST_PARTS, muon_lr=0.05, evals_per_epoch=1)
    settings = TrainSettings(epochs=2, lr=0.003, optimizer="muon", recipe=recipe)
    trainer = Trainer(model, settings)
    assert trainer.optimizer.ns_dtype == torch.float32  # the compute path's muon_precision, fp32 unless asked
    bf16 = Trainer(model, dataclasses.replace(settings, fast=dataclasses.replace(settings.fast, muon_precision="bf16")))
    assert bf16.optimizer.ns_dtype == torch.bfloat16
    lrs = sorted((g.get("kind"), g["lr"]) for g in trainer.optimizer.param_groups)
    assert lrs == [("adamw", 0.003), ("adamw", 0.003), ("muon", 0.05)]  # biases, the last layer, the filters
    result = train(model, train_loader, test_loader, settings, log=quiet)
    assert result.epochs[-1].train_loss < result.epochs[0].train_loss


def test_ema_evaluates_the_moving_average_of_the_weights():
    """recipe.ema = d: after steps with weights w1, w2, w3 the evaluated weights are the recursion e1 = w1,
    e_t = d e_(t-1) + (1 - d) w_t (torch.optim.swa_utils' EMA, its first update a copy), worked out here by hand."""
    recipe = dataclasses.replace(recipes.D2L, ema=0.5)
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    trainer = Trainer(model, TrainSettings(epochs=1, lr=0.1, recipe=recipe))
    images, labels = learnable_data(64)
    x = images.float().div(255).unsqueeze(1)
    seen = []
    for _ in range(3):
        trainer.step(x, labels)
        seen.append(model[1].weight.detach().clone())
    expected = seen[0]
    for w in seen[1:]:
        expected = 0.5 * expected + 0.5 * w
    assert torch.allclose(trainer.ema.module[1].weight, expected, atol=1e-6)
    assert not torch.allclose(expected, seen[-1])  # the evaluated weights are not the trained ones
    right = trainer.evaluate_batches([(x, labels)])
    by_hand = (F.linear(x.flatten(1), expected, trainer.ema.module[1].bias).argmax(1) == labels).sum()
    assert right == by_hand


def test_holms_correction_is_the_textbook_step_down():
    """Holm (1979): sorted p-values times (m, m-1, ...), kept non-decreasing: 0.01, 0.03, 0.04 of three arms give
    0.03, max(0.06, 0.03) = 0.06 and max(0.04, 0.06) = 0.06, in the order given."""
    from perf.recipe_arms import holm

    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5] and holm([0.6, 0.9]) == pytest.approx([1.0, 1.0])
