"""Each run-defining field declared once: the flags, the argv codec, the checks, the "same configuration" key and
the configuration id all come from the field declarations (``run.options``, ``schema.config``, ``schema.fields``)."""

import argparse
import dataclasses
import hashlib
import json

import pytest

from benchmarks.run import isolation, options
from benchmarks.run.options import RunOptions
from benchmarks.schema.compute import ComputePath
from benchmarks.schema.config import RunConfig, config_id, same_config_fields
from benchmarks.schema.recipe import FAST_PARTS
from tests.test_leaderboard import make_record


def parser(names=None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(allow_abbrev=False)
    options.add_arguments(p, names)
    return p


# one value for every option that is not its default, written as a user would type it
EVERY_FLAG = ["--arch", "lenet", "nin*", "--profile", "cpu", "--epochs", "2", "--batch-size", "32", "--lr", "0.01",
              "--optimizer", "sgd", "--recipe", "fast", "--recipe-set", "ema=0.9", "--recipe-set", "init=lsuv",
              "--resolution", "64", "--device", "cpu", "--seeds", "3", "4", "--train-subset", "100",
              "--test-subset", "50", "--precision", "bf16", "--no-channels-last", "--compile", "--compile-mode",
              "max-autotune", "--optimizer-impl", "foreach", "--no-cudnn-benchmark", "--tf32", "--muon-precision",
              "bf16", "--exact",
              "--synthetic", "--data-dir", "/data/fm", "--out", "/runs/here", "--force", "--oom-retry", "--ddp",
              "--no-isolate", "--run-timeout", "30", "--max-minutes", "5", "--import", "my_models",
              "--executor", "slurm", "--slurm-partition", "debug", "--slurm-time", "9", "--slurm-gpus-per-job", "1",
              "--slurm-cpus-per-job", "2", "--slurm-option", "qos=short", "--no-wait"]  # fmt: skip


def test_every_option_has_its_flag_and_every_flag_sets_its_option():
    parsed = options.from_args(parser().parse_args(EVERY_FLAG))
    defaults = RunOptions()
    unset = [f.name for f in dataclasses.fields(RunOptions) if getattr(parsed, f.name) == getattr(defaults, f.name)]
    assert unset == []  # EVERY_FLAG moves every field off its default: no field lacks a flag
    assert (
        parsed.seeds == (3, 4) and parsed.recipe_parts == ("ema=0.9", "init=lsuv") and parsed.imports == ("my_models",)
    )
    assert parsed.compute == {"precision": "bf16", "channels_last": False, "compile": True,
                              "compile_mode": "max-autotune", "optimizer_impl": "foreach", "cudnn_benchmark": False,
                              "tf32": True, "muon_precision": "bf16"}  # fmt: skip
    assert {f.name for f in dataclasses.fields(ComputePath)} == set(parsed.compute)


def test_the_codec_hands_on_everything_but_the_submission_and_parses_back_to_the_same_options():
    given = options.from_args(parser().parse_args(EVERY_FLAG))
    handed = options.from_args(parser().parse_args(options.to_argv(given)))
    submission = {"executor", "slurm_partition", "slurm_time", "slurm_gpus_per_job", "slurm_cpus_per_job",
                  "slurm_options", "no_wait"}  # fmt: skip
    for f in dataclasses.fields(RunOptions):
        expected = getattr(RunOptions(), f.name) if f.name in submission else getattr(given, f.name)
        assert getattr(handed, f.name) == expected, f.name


def test_paths_are_handed_on_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    given = options.from_args(parser().parse_args(["--out", "runs", "--data-dir", "data", "--import", "mine.py"]))
    argv = options.to_argv(given)
    for flag, name in (("--out", "runs"), ("--data-dir", "data"), ("--import", "mine.py")):
        assert argv[argv.index(flag) + 1] == str(tmp_path / name)


def test_an_isolated_child_parses_what_the_suite_hands_it():
    """The child's parser is made from the same declarations (``options.CHILD``) as the flags it is given."""
    given = options.from_args(parser().parse_args(["--synthetic", "--oom-retry", "--data-dir", "/d", "--import", "m"]))
    flags = isolation.child_flags(given, replace=True)
    child = argparse.ArgumentParser()
    child.add_argument("--replace", action="store_true")
    options.add_arguments(child, options.CHILD)
    parsed = child.parse_args(flags)
    assert parsed.replace and parsed.synthetic and parsed.oom_retry and parsed.data_dir == "/d"
    assert parsed.imports == ["m"]


@pytest.mark.parametrize("flag", ["--epochs", "--batch-size", "--lr", "--resolution", "--train-subset",
                                  "--test-subset", "--run-timeout", "--max-minutes"])  # fmt: skip
def test_each_positive_option_refuses_zero_naming_its_flag(flag):
    with pytest.raises(ValueError, match=f"^{flag} must be positive, not 0"):
        options.check(options.from_args(parser().parse_args([flag, "0"])))


def test_the_same_configuration_key_is_every_field_but_those_that_say_which_run_it_is():
    """d2l's ablations hold everything equal but the entry; the seed, the machine, the profile and the data are
    the group and the replicate (``summary.GroupKey``), never a difference between two configurations."""
    which_run = {"arch", "profile", "machine", "device", "seed", "data"}
    assert set(same_config_fields()) == {f.name for f in dataclasses.fields(RunConfig)} - which_run


LATER_PATH = {"muon_precision": "fp32"}  # the compute path's field added later (--muon-precision, issue 36)


def hand_hashed(config: RunConfig, leave_out_at_default: dict) -> str:
    values = dataclasses.asdict(config)
    values.pop("seed")
    for part, later in (("recipe", leave_out_at_default), ("fast", LATER_PATH)):
        for key, default in later.items():
            if values[part][key] == default:
                values[part].pop(key)
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:10]


def test_a_part_added_later_renames_no_record_at_its_default_and_does_where_it_is_set():
    """The parts added after the first records (clip_grad_norm, last_layer_lr, muon_lr, ema: PERFORMANCE.md) are
    left out of the hash while at their default, so that every earlier record keeps its file name."""
    later = {"clip_grad_norm": 0.0, "last_layer_lr": 1.0, "muon_lr": 0.02, "ema": 0.0}
    config, _ = make_record("nin", 0, 0.8, 1000.0)
    config = dataclasses.replace(config, recipe=FAST_PARTS)
    assert config_id(config) == hand_hashed(config, later)
    assert config_id(config) != hand_hashed(config, {})  # the hash would move if they were counted
    set_ema = dataclasses.replace(config, recipe=dataclasses.replace(FAST_PARTS, ema=0.9))
    assert config_id(set_ema) == hand_hashed(set_ema, {k: v for k, v in later.items() if k != "ema"})
    assert config_id(set_ema) != config_id(config)
