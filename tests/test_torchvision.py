"""torchvision's classifiers by name (``torchvision:NAME``), where torchvision imports, and one clear line where not.

``nox -s tests`` runs the suite against two torch builds: the light CPU build without torchvision (the tests that
need it skip, saying why) and a build with torchvision (they run).
"""

import pytest
import torch

import archs
from archs import _torchvision
from benchmarks import cli

HAS_TORCHVISION = _torchvision.available()
needs_torchvision = pytest.mark.skipif(
    not HAS_TORCHVISION, reason="torchvision does not import with this torch build (the other nox session has it)"
)


@pytest.mark.skipif(HAS_TORCHVISION, reason="torchvision imports here; this checks the build without it")
def test_a_torchvision_name_without_torchvision_is_one_line(tmp_path, capsys):
    code = cli.main(["run", "--out", str(tmp_path), "--synthetic", "--arch", "torchvision:resnet18"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE and err.count("\n") == 1 and "torchvision cannot be imported" in err
    assert cli.main(["list", "lenet"]) == 0  # nothing else changes
    assert "torchvision: not available" in capsys.readouterr().out


@needs_torchvision
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "vgg11", "densenet121"])
def test_a_torchvision_classifier_takes_one_channel_and_ten_classes(name):
    model = archs.get_model(f"torchvision:{name}").train()
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == 1
    out = model(torch.randn(2, 1, 64, 64))
    assert out.shape == (2, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    assert archs.get_model(f"torchvision:{name}", in_channels=3, num_classes=7)(torch.randn(2, 3, 64, 64)).shape == (
        2,
        7,
    )


@needs_torchvision
def test_torchvision_names_are_checked_and_listed(tmp_path, capsys):
    assert cli.main(["run", "--out", str(tmp_path), "--synthetic", "--arch", "torchvision:resnet19"]) == 2
    assert "did you mean torchvision:resnet18" in capsys.readouterr().err
    assert cli.main(["list", "lenet"]) == 0
    assert "torchvision:NAME" in capsys.readouterr().out and "resnet18" in _torchvision.classifier_names()


@needs_torchvision
def test_a_torchvision_model_trains_by_name(tmp_path):
    from benchmarks.schema import records

    argv = ["run", "--out", str(tmp_path), "--synthetic", "--arch", "torchvision:resnet18", "--epochs", "1",
            "--train-subset", "64", "--test-subset", "32", "--resolution", "32", "--batch-size", "32", "--seeds", "0"]  # fmt: skip
    assert cli.main(argv) == 0
    (path,) = tmp_path.rglob("*.json")
    record, problem = records.read_record(path)
    assert problem is None and record.arch == "torchvision:resnet18" and ":" not in path.name
