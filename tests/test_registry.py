import sys
import textwrap

import pytest
import torch

import archs
from benchmarks.model_stats import count_params

REQUIRED_PARAMS = {
    "lenet": 61_706,
    "alexnet": 46_764_746,
    "vgg11": 128_806_154,
    "vgg11-small": 43_093_322,
    "nin": 1_992_166,
    "nin-one-1x1": 1_769_112,
    "nin-no-1x1": 1_546_058,
    "nin-no-dropout": 1_992_166,
    "nin-fc-head": 1_992_166 + 10 * 5 * 5 * 10 + 10,  # NiN plus one Linear(250, 10)
}


@pytest.mark.parametrize("name", sorted(REQUIRED_PARAMS))
def test_parameter_counts_are_the_references(name):
    assert count_params(archs.get_model(name)) == REQUIRED_PARAMS[name]


@pytest.mark.parametrize("name", archs.list_models())
def test_forward_and_backward_at_input_size(name):
    entry = archs.get_entry(name)
    torch.manual_seed(0)
    model = entry.build().train()
    x = torch.randn(2, 1, entry.input_size, entry.input_size)
    out = model(x)
    assert out.shape == (2, 10)
    out.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"parameters without gradient: {missing}"


@pytest.mark.parametrize("name", archs.list_models())
def test_smallest_input_runs_and_one_less_is_refused(name):
    entry = archs.get_entry(name)
    model = entry.build().eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 1, entry.min_input_size, entry.min_input_size)).shape == (1, 10)
    entry.check_input_size(entry.min_input_size)
    with pytest.raises(ValueError, match=f"minimum is {entry.min_input_size}"):
        entry.check_input_size(entry.min_input_size - 1)


@pytest.mark.parametrize("name", ["alexnet", "vgg11-small", "nin"])
def test_channels_and_classes_are_overridable(name):
    model = archs.get_model(name, in_channels=3, num_classes=7).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 96, 96)).shape == (1, 7)


def test_list_models_is_sorted_and_filters_shell_style():
    names = archs.list_models()
    assert names == sorted(names)
    assert set(REQUIRED_PARAMS) <= set(names)
    assert archs.list_models("nin-no*") == ["nin-no-1x1", "nin-no-dropout"]
    assert archs.list_models("vgg11?small") == ["vgg11-small"]
    assert archs.list_models("resnet*") == []


def test_get_model_returns_a_fresh_module():
    assert archs.get_model("lenet") is not archs.get_model("lenet")


def test_unknown_name_names_the_closest_matches():
    with pytest.raises(KeyError, match="did you mean.*nin-no-1x1"):
        archs.get_model("nin-no1x1")


def test_registering_a_name_twice_is_an_error(registry_snapshot):
    with pytest.raises(ValueError, match="registered already"):
        archs.register_model(
            "lenet", description="x", input_size=28, min_input_size=28, recipe=archs.Recipe(lr=0.1, batch_size=8)
        )(lambda **_: torch.nn.Identity())


def test_every_entry_has_a_recipe_and_description():
    for name in archs.list_models():
        entry = archs.get_entry(name)
        assert entry.description and entry.recipe.lr > 0 and entry.recipe.batch_size > 0
        assert entry.min_input_size <= entry.input_size


def test_an_architecture_from_a_users_own_module(registry_snapshot, tmp_path):
    module = tmp_path / "my_models.py"
    module.write_text(
        textwrap.dedent("""
        from torch import nn
        from archs import Recipe, register_model

        @register_model("tiny-mlp", description="one linear layer", input_size=28, min_input_size=28,
                        recipe=Recipe(lr=0.1, batch_size=64))
        def tiny_mlp(in_channels=1, num_classes=10):
            return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 28 * 28, num_classes))
    """)
    )
    archs.import_models(str(module))
    assert "tiny-mlp" in archs.list_models()
    assert archs.get_model("tiny-mlp")(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    sys.modules.pop("_user_models_my_models", None)


def test_a_new_file_in_the_package_is_found_by_itself(tmp_path):
    """Adding an architecture is one file in archs/: a fresh interpreter finds it with nothing else edited."""
    import shutil
    import subprocess
    from pathlib import Path

    package = Path(archs.__file__).parent
    copy = tmp_path / "archs"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "tiny.py").write_text(
        textwrap.dedent("""
        from torch import nn
        from archs._registry import Recipe, register_model

        @register_model("tiny", description="t", input_size=28, min_input_size=28, recipe=Recipe(lr=1, batch_size=1))
        def tiny(in_channels=1, num_classes=10):
            return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 784, num_classes))
    """)
    )
    code = "import archs; print(archs.list_models('tiny'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['tiny']"


def test_nothing_in_archs_imports_from_benchmarks():
    import re
    from pathlib import Path

    package = Path(archs.__file__).parent
    imports_benchmarks = re.compile(r"^\s*(from|import)\s+benchmarks\b", re.MULTILINE)
    offenders = [p.name for p in package.glob("*.py") if imports_benchmarks.search(p.read_text())]
    assert offenders == []


def test_list_command_prints_params_and_gflops(capsys):
    from benchmarks import cli

    assert cli.main(["list", "nin*"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| nin "))
    assert "1,992,166" in row and "1.5246" in row and "224" in row
    assert "| lenet " not in out
