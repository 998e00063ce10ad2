import sys
import textwrap

import pytest
import torch

import archs
from benchmarks.measure.model_stats import count_params

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
    # exercise 4: NiN's last 3x3 conv 384 -> 10 (and its first 1x1, 10 -> 10) become 384 -> 96 and 96 -> 10
    "nin-stepped": 1_992_166 - (384 * 9 * 10 + 10) - (10 * 10 + 10) + (384 * 9 * 96 + 96) + (96 * 10 + 10),
    "googlenet": 5_977_530,  # d2l chapter 8 (zh.d2l.ai 2.0), at 96 px
    "resnet18": 11_178_378,
    "densenet": 758_226,
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
    assert archs.list_models("resnext*") == []


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


CONVENTIONAL = '''
from torch import nn

from archs import register_model


@register_model("my-net")
def my_net(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """A small network."""
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 28 * 28, 64), nn.ReLU(), nn.Linear(64, num_classes))
'''


def _package_copy(tmp_path, **files):
    """archs/ copied into tmp_path with extra files; benchmarks still comes from the repository."""
    import shutil
    from pathlib import Path

    root = Path(archs.__file__).resolve().parents[1]
    shutil.copytree(root / "archs", tmp_path / "archs", ignore=shutil.ignore_patterns("__pycache__"))
    for name, text in files.items():
        (tmp_path / "archs" / f"{name}.py").write_text(text)
    env = {**__import__("os").environ, "PYTHONPATH": str(root)}
    return env


def test_the_conventional_one_liner_registers_and_trains_by_name(tmp_path):
    """torchvision's and timm's form, with no other argument, trains with `run --arch my-net`."""
    import subprocess

    env = _package_copy(tmp_path, my_net=CONVENTIONAL)
    command = [sys.executable, "-m", "benchmarks", "run", "--arch", "my-net", "--synthetic", "--epochs", "1", "--seeds", "0", "--recipe", "d2l",
               "--train-subset", "256", "--test-subset", "64", "--out", str(tmp_path / "runs")]  # fmt: skip
    out = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    (path,) = (tmp_path / "runs").rglob("my-net__*.json")
    from benchmarks.schema import records

    record, problem = records.read_record(path)
    assert problem is None and record.status == "ok" and record.description == "A small network."
    assert record.config.resolution == 28 and record.config.lr == archs.DEFAULT_RECIPE.lr


def test_a_broken_file_in_archs_is_one_line_and_the_rest_still_lists(tmp_path):
    import subprocess

    env = _package_copy(tmp_path, broken="from torch import nn\ndef oops(:\n")
    out = subprocess.run([sys.executable, "-m", "benchmarks", "list"], cwd=tmp_path, env=env, capture_output=True,
                         text=True)  # fmt: skip
    assert out.returncode == 0
    assert out.stderr.count("\n") == 1 and "archs/broken.py" in out.stderr and "SyntaxError" in out.stderr
    assert "Traceback" not in out.stderr and "| nin " in out.stdout


def test_what_register_model_is_not_told_it_fills_in(registry_snapshot):
    from torch import nn

    @archs.register_model("bare-mlp")
    def bare_mlp(in_channels=1, num_classes=10):
        """Two layers.

        More text that is not the description.
        """
        return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 28 * 28, 32), nn.ReLU(), nn.Linear(32, num_classes))

    @archs.register_model("bare-nin")
    def bare_nin(in_channels=1, num_classes=10):
        from archs.nin import nin

        return nin(in_channels, num_classes)

    mlp, nin = archs.get_entry("bare-mlp"), archs.get_entry("bare-nin")
    assert (mlp.description, mlp.input_size, mlp.min_input_size, mlp.max_input_size) == ("Two layers.", 28, 28, 28)
    assert mlp.recipe == archs.DEFAULT_RECIPE
    assert (nin.description, nin.input_size, nin.min_input_size, nin.max_input_size) == ("", 224, 67, None)
    assert nin.min_input_size == archs.get_entry("nin").min_input_size  # discovery agrees with the stated value


def test_every_stated_input_size_agrees_with_discovery():
    from archs._registry import discover_input_sizes

    for name in archs.list_models():
        entry = archs.get_entry(name)
        size, low, high = discover_input_sizes(entry.builder)
        assert (entry.min_input_size, entry.max_input_size) == (low, high), name


def test_the_registry_page_table_is_the_list_command_output():
    from pathlib import Path

    from benchmarks.commands.list import format_registry

    text = (Path(archs.__file__).resolve().parent / "README.md").read_text()
    block = text.split("<!-- registry:start")[1].split("-->", 1)[1].split("<!-- registry:end -->")[0]
    assert block.strip() == format_registry().strip(), "regenerate it from `python -m benchmarks list`"
