"""``RunOptions``: what ``python -m benchmarks run`` was asked for, typed, each field declared once with its flag.

Every field carries its command-line flag, help, check and role as metadata (``option``); from those alone come
the argparse flags (``add_arguments``), the parsed options (``from_args``), the checks (``check``), the
options-to-argv codec that hands a suite on to another process (``to_argv``: an isolated run's child, a SLURM job,
torchrun) and the explicit values of a run's configuration (``overrides``). The compute path's flags come from
``benchmarks.schema.compute.ComputePath``'s own fields. Nothing below the command line sees an argparse
``Namespace``.

The roles:
- ``config``: sets the ``RunConfig`` field of the same name over the profile's and the recipe's value
  (``profiles.resolve`` applies every one alike);
- ``plan``: decides which runs there are and how they are configured, in ways of its own (``plan.plan``);
- ``runner``: how this suite runs them; ``child=True``: an isolated run's process needs it too;
- ``submission``: the SLURM submission only, never handed on.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.run.launcher import EXECUTORS
from benchmarks.run.profiles import PROFILES
from benchmarks.schema.compute import ComputePath
from benchmarks.schema.recipe import RECIPES
from benchmarks.train.compute import OPTIMIZERS

ROLES = ("config", "plan", "runner", "submission")
GROUPS = {  # argparse groups, in the order --help shows them; None: the main options
    "compute": "compute path (default: chosen for the machine; the plan says which and why)",
    "cluster": "cluster (--executor slurm: one SLURM job per run, as a job array, via submitit)",
}
POSITIVE = "positive"


def import_spec(spec: str) -> str:
    """An --import that names a file, made absolute (a SLURM job may start in another folder); a module as it is."""
    return str(Path(spec).resolve()) if spec.endswith(".py") or Path(spec).exists() else spec


def option(default, *flags: str, role: str, group: str | None = None, check: str | None = None, path: bool = False,
           child: bool = False, encode=None, **argparse_kwargs):  # fmt: skip
    """A field of ``RunOptions`` with its flag (``flags``: the first is its name; none: ``--field-name``), the
    argparse keywords it is declared with, its role, its check (``"positive"``), and how the codec writes it out
    (``path``: made absolute; ``encode``: each value through this)."""
    assert role in ROLES and (group is None or group in GROUPS)
    meta = dict(flags=flags, role=role, group=group, check=check, path=path, child=child, encode=encode,
                argparse=argparse_kwargs)  # fmt: skip
    if isinstance(default, (tuple, dict)):
        return field(default_factory=type(default), metadata=meta)
    return field(default=default, metadata=meta)


def _positive(kind, metavar=None, help=None, role="config"):
    extra = {k: v for k, v in (("metavar", metavar), ("help", help)) if v is not None}
    return option(None, role=role, check=POSITIVE, type=kind, **extra)


@dataclass(frozen=True)
class RunOptions:
    arch: tuple[str, ...] = option((), role="plan", nargs="+", metavar="PATTERN",
                                   help="names or shell patterns (default: the profile's entries; '*' for every entry)")  # fmt: skip
    profile: str | None = option(
        None, role="plan", choices=sorted(PROFILES), help="default: full on CUDA, cpu on a CPU"
    )
    epochs: int | None = _positive(int)
    batch_size: int | None = _positive(int)
    lr: float | None = _positive(float)
    optimizer: str | None = option(None, role="config", choices=sorted(OPTIMIZERS), help="default: the recipe's")
    recipe: str | None = option(None, role="plan", choices=RECIPES,
                                help="d2l: the book's, per entry; fast: one recipe for every entry "
                                "(benchmarks/schema/recipe.py); default: the profile's (full: d2l, cpu: fast)")  # fmt: skip
    recipe_parts: tuple[str, ...] = option((), "--recipe-set", role="plan", action="append", metavar="FIELD=VALUE",
                                           help="change one part of the recipe (repeatable), e.g. label_smoothing=0 "
                                           "or init=xavier; the fields are "
                                           "benchmarks.schema.recipe.TrainRecipe's")  # fmt: skip
    resolution: int | None = _positive(int, help="input side in pixels")
    device: str | None = option(None, role="plan", help="cuda, cuda:N or cpu (default: cuda when present)")
    seeds: tuple[int, ...] = option((), "--seed", "--seeds", role="plan", type=int, nargs="+",
                                    help="default: the profile's (cpu: 0 1 2; full and smoke: 0)")  # fmt: skip
    train_subset: int | None = _positive(int, "N", "a seeded subset of N training images")
    test_subset: int | None = _positive(int, "N", "a seeded subset of N test images")
    compute: dict = option({}, role="plan", group="compute")  # ComputePath field -> explicit value (None: not given)
    exact: bool = option(False, role="plan", group="compute", action="store_true",
                         help="d2l's exact path: fp32 without TF32, NCHW, eager, a for-loop SGD step, no autotuning")  # fmt: skip
    synthetic: bool = option(False, role="plan", child=True, action="store_true",
                             help="random data, for throughput only")  # fmt: skip
    data_dir: str | None = option(None, role="runner", path=True, child=True,
                                  help="folder holding the four Fashion-MNIST files")  # fmt: skip
    out: str = option("results/runs", role="runner", path=True, help="folder of run records (default: results/runs)")
    force: bool = option(False, role="runner", action="store_true", help="rerun runs whose records exist")
    oom_retry: bool = option(False, role="runner", child=True, action="store_true",
                             help="after running out of memory, retry at half batch")  # fmt: skip
    ddp: bool = option(False, role="runner", action="store_true",
                       help="under torchrun: train each run data-parallel over all ranks (default: deal the runs out)")  # fmt: skip
    isolate: bool | None = option(None, role="runner", action=argparse.BooleanOptionalAction,
                                  help="each run in a process of its own (default: on CUDA only)")  # fmt: skip
    run_timeout: float | None = _positive(float, "SECONDS", "stop an isolated run after this long and record it as "
                                          "timeout (default: no limit)", role="runner")  # fmt: skip
    max_minutes: float | None = _positive(float, "N", "start no run that the records say cannot finish within N "
                                          "minutes of the suite's start; the same command resumes", role="runner")  # fmt: skip
    imports: tuple[str, ...] = option((), "--import", role="runner", child=True, encode=import_spec, action="append",
                                      metavar="MODULE",
                                      help="a module or .py file that registers more architectures (repeatable)")  # fmt: skip
    # "slurm": the runs not done become one SLURM job array (benchmarks.run.cluster)
    executor: str = option("local", role="submission", group="cluster", choices=tuple(EXECUTORS),
                           help="local: this process (default); slurm: the runs not done as a job array")  # fmt: skip
    slurm_partition: str | None = option(None, role="submission", group="cluster",
                                         help="the partition (default: the cluster's default)")  # fmt: skip
    slurm_time: float | None = option(None, role="submission", group="cluster", check=POSITIVE, type=float,
                                      metavar="MINUTES", help="each job's time limit (default: 60)")  # fmt: skip
    slurm_gpus_per_job: int | None = option(None, role="submission", group="cluster", check=POSITIVE, type=int,
                                            metavar="N")  # fmt: skip
    slurm_cpus_per_job: int | None = option(None, role="submission", group="cluster", check=POSITIVE, type=int,
                                            metavar="N")  # fmt: skip
    slurm_options: tuple[str, ...] = option((), "--slurm-option", role="submission", group="cluster", action="append",
                                            metavar="KEY=VALUE",
                                            help="any other sbatch option, e.g. account=lab or qos=short (repeatable)")  # fmt: skip
    no_wait: bool = option(False, role="submission", group="cluster", action="store_true",
                           help="submit, print the job ids, and return")  # fmt: skip


OPTIONS = {f.name: f for f in dataclasses.fields(RunOptions)}
CHILD = tuple(name for name, f in OPTIONS.items() if f.metadata["child"])  # what an isolated run's process takes


def flags(name: str) -> tuple[str, ...]:
    return OPTIONS[name].metadata["flags"] or ("--" + name.replace("_", "-"),)


def _compute_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, names: tuple[str, ...] | None = None) -> None:
    """The flags of ``names`` (default: every option), each as its field declares it, in declaration order."""
    groups = {None: parser}
    for name, f in OPTIONS.items():
        if names is not None and name not in names:
            continue
        meta = f.metadata
        if meta["group"] not in groups:
            groups[meta["group"]] = parser.add_argument_group(GROUPS[meta["group"]])
        target = groups[meta["group"]]
        if name == "compute":  # one flag per field of the compute path
            for c in dataclasses.fields(ComputePath):
                extra = {"help": c.metadata["help"]} if c.metadata["help"] else {}
                if c.type in ("bool", bool):
                    target.add_argument(_compute_flag(c.name), action=argparse.BooleanOptionalAction, default=None,
                                        **extra)  # fmt: skip
                else:
                    target.add_argument(_compute_flag(c.name), choices=c.metadata["choices"], **extra)
            continue
        kwargs = dict(meta["argparse"])
        if kwargs.get("action") == "append":
            kwargs["default"] = []
        elif kwargs.get("action") == argparse.BooleanOptionalAction:
            kwargs["default"] = None
        elif "action" not in kwargs and f.default is not dataclasses.MISSING and f.default is not None:
            kwargs["default"] = f.default
        target.add_argument(*flags(name), dest=name, **kwargs)


def from_args(args: argparse.Namespace) -> RunOptions:
    """The parsed command line as ``RunOptions``: lists become tuples, the compute-path flags one dict."""
    values = {}
    for name, f in OPTIONS.items():
        if name == "compute":
            values[name] = {c.name: getattr(args, c.name, None) for c in dataclasses.fields(ComputePath)}
            continue
        value = getattr(args, name)
        tupled = f.default_factory is tuple
        values[name] = tuple(value) if isinstance(value, list) else (() if value is None and tupled else value)
    return RunOptions(**values)


def check(args: RunOptions) -> None:
    """Raise ValueError naming the flag of the first value its field's check refuses."""
    for name, f in OPTIONS.items():
        value = getattr(args, name)
        if f.metadata["check"] == POSITIVE and value is not None and not value > 0:
            raise ValueError(f"{flags(name)[0]} must be positive, not {value}")


def overrides(args: RunOptions) -> dict:
    """The explicit values of the ``config`` options (None: not given): each sets the ``RunConfig`` field of its
    name over the profile's and the recipe's (``profiles.resolve``)."""
    return {name: getattr(args, name) for name, f in OPTIONS.items() if f.metadata["role"] == "config"}


def _absolute(path: str) -> str:
    return str(Path(path).resolve())


def to_argv(args: RunOptions, names: tuple[str, ...] | None = None) -> list[str]:
    """``args`` (only ``names``, default all but the submission's) as the arguments that parse back to the same
    options in another process, in another folder: values not given are left out, paths made absolute."""
    names = names if names is not None else tuple(n for n, f in OPTIONS.items() if f.metadata["role"] != "submission")
    argv: list[str] = []
    for name in names:
        meta, value = OPTIONS[name].metadata, getattr(args, name)
        flag, action = flags(name)[0], meta["argparse"].get("action")
        if value is None or value == () or (value is False and action != argparse.BooleanOptionalAction):
            continue
        if name == "compute":
            for part, given in value.items():
                if isinstance(given, bool):
                    argv.append(_compute_flag(("" if given else "no-") + part))
                elif given is not None:
                    argv += [_compute_flag(part), str(given)]
            continue
        encode = meta["encode"] or (_absolute if meta["path"] else str)
        if action == "append":  # repeatable: the flag before each value
            for item in value:
                argv += [flag, encode(item)]
        elif isinstance(value, tuple):
            argv += [flag, *map(encode, value)]
        elif value is True:
            argv.append(flag)
        elif action == argparse.BooleanOptionalAction:  # False
            argv.append("--no-" + flag[2:])
        else:
            argv += [flag, encode(value)]
    return argv
