"""The resource card: per-layer figures that add up, shapes that match a real forward pass, a prediction that
scales as it says, and a measurement beside it."""

import pytest
import torch

import archs
from benchmarks import cli
from benchmarks.measure.model_stats import count_params, forward_flops
from benchmarks.train import resource_card

NAMES = ["lenet", "nin", "nin-fc-head", "vgg11-small", "googlenet", "resnet18", "densenet"]


@pytest.mark.parametrize("name", NAMES)
def test_per_layer_figures_add_up_to_the_model_totals(name):
    entry = archs.get_entry(name)
    rows = resource_card.layers(entry.build(), entry.input_size)
    assert sum(r.params for r in rows) == count_params(entry.build())
    assert sum(r.flops for r in rows) == forward_flops(entry.build(), entry.input_size)


def test_shapes_are_those_of_a_real_forward_pass():
    model = archs.get_model("nin").eval()
    rows = resource_card.layers(model, 224)
    x, shapes = torch.zeros(1, 1, 224, 224), []
    with torch.no_grad():
        for block in model:  # NiN is a Sequential of Sequentials: run it by hand, layer by layer
            for layer in block if isinstance(block, torch.nn.Sequential) else [block]:
                x = layer(x)
                shapes.append(tuple(x.shape[1:]))
    assert [r.shape for r in rows] == shapes
    assert rows[0].shape == (96, 54, 54) and rows[-1].shape == (10,)
    assert rows[0].bytes == 96 * 54 * 54 * 4


def test_training_memory_grows_with_the_batch_by_the_activation_term():
    rows = resource_card.layers(archs.get_model("nin"), 224)
    one, eight = (resource_card.predict(rows, b, "fp32", "sgd", 224 * 224 * 4) for b in (1, 8))
    assert eight.saved_activations == 8 * one.saved_activations
    assert eight.training - one.training == 7 * (one.saved_activations + one.largest_transient)
    assert eight.weights == one.weights and eight.gradients == one.gradients
    assert one.inference == one.weights + one.largest_transient  # no gradients, no optimizer state
    adamw = resource_card.predict(rows, 1, "fp32", "adamw", 224 * 224 * 4)
    assert adamw.optimizer_state == 2 * adamw.weights and one.optimizer_state == 0


def test_the_nin_exercise_card_with_its_measurement(capsys):
    assert cli.main(["describe", "nin", "--resolution", "224", "--batch-size", "1"]) == 0
    out = capsys.readouterr().out
    assert "- parameters: 1,992,166" in out and "forward 1.525 G" in out
    assert "predicted for inference" in out and "predicted for one training step" in out
    assert "measured on" in out and "measured/predicted" in out


def test_the_measured_training_peak_is_near_the_prediction():
    """The live-tensor count on a CPU against the itemised prediction, NiN at 224 px, batch 2."""
    rows = resource_card.layers(archs.get_model("nin"), 224)
    predicted = resource_card.predict(rows, 2, "fp32", "sgd", 224 * 224 * 4)
    inference, training = resource_card.measure(archs.get_entry("nin").build, 224, 2, "fp32", "sgd", "cpu")
    assert 0.75 < inference / predicted.inference < 1.25
    assert 0.75 < training / predicted.training < 1.25


def test_describe_takes_a_users_entry_and_refuses_bad_input(tmp_path, capsys, registry_snapshot):
    module = tmp_path / "mine.py"
    module.write_text(
        "from torch import nn\nfrom archs import register_model\n\n"
        "@register_model('mine-mlp')\ndef mine(in_channels=1, num_classes=10):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(784, num_classes))\n"
    )
    assert cli.main(["describe", "mine-mlp", "--import", str(module), "--no-measure"]) == 0
    assert "- parameters: 7,850" in capsys.readouterr().out
    assert cli.main(["describe", "nin", "--resolution", "30"]) == cli.EXIT_USAGE
    assert "too small" in capsys.readouterr().err
