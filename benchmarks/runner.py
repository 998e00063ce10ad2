"""``python -m benchmarks run``: train and time architectures, one run record per (architecture, config, seed).

A suite resumes: runs whose records exist and are complete are skipped (``--force`` reruns them). One run that
diverges, runs out of memory or raises is recorded as such and the suite goes on; the exit status is 1 if any run
failed. Every argument is checked before any training starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

import archs
from benchmarks import budget, distributed, isolation, machine, recipes, records
from benchmarks.config import (
    COMPILE_MODES,
    OPTIMIZER_IMPLS,
    PRECISIONS,
    PROFILES,
    FastPath,
    RunConfig,
    fast_defaults,
    resolve,
    resolve_fast,
)  # fmt: skip
from benchmarks.device_data import Dataset, DeviceLoader, real_fashion_mnist, synthetic_fashion_mnist
from benchmarks.errors import UsageError
from benchmarks.harness import OPTIMIZERS, Diverged, TrainSettings, apply_backend_settings, rate, train
from benchmarks.model_stats import class_map_side, count_params, design_note, forward_flops
from benchmarks.recipes import RECIPES
from benchmarks.records import DataInfo, DataParallel, ReportFacts, RunRecord
from benchmarks.user_archs import add_import_argument, import_user_modules

HELP = "train and time architectures, writing run records"
SUBSET_SEED = 0  # every seed of a configuration trains on the same subset; the seed varies init and order only


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--arch",
        nargs="+",
        metavar="PATTERN",
        help="names or shell patterns (default: the profile's entries; '*' for every entry)",
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), help="default: full on CUDA, cpu on a CPU")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), help="default: the recipe's")
    parser.add_argument("--recipe", choices=RECIPES,
                        help="d2l: the book's, per entry; fast: one recipe for every entry (benchmarks/recipes.py); "
                             "default: the profile's (full: d2l, cpu: fast)")  # fmt: skip
    parser.add_argument("--recipe-set", dest="recipe_parts", action="append", default=[], metavar="FIELD=VALUE",
                        help="change one part of the recipe (repeatable), e.g. label_smoothing=0 or init=xavier; "
                             "the fields are benchmarks.recipes.TrainRecipe's")  # fmt: skip
    parser.add_argument("--resolution", type=int, help="input side in pixels")
    parser.add_argument("--device", help="cuda, cuda:N or cpu (default: cuda when present)")
    parser.add_argument(
        "--seed",
        "--seeds",
        dest="seeds",
        type=int,
        nargs="+",
        help="default: the profile's (cpu: 0 1 2; full and smoke: 0)",
    )
    parser.add_argument("--train-subset", type=int, metavar="N", help="a seeded subset of N training images")
    parser.add_argument("--test-subset", type=int, metavar="N", help="a seeded subset of N test images")
    fast = parser.add_argument_group("fast path (default: chosen for the machine; the plan says which and why)")
    fast.add_argument("--precision", choices=PRECISIONS)
    fast.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    fast.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    fast.add_argument("--compile-mode", choices=COMPILE_MODES)
    fast.add_argument("--optimizer-impl", choices=OPTIMIZER_IMPLS, help="how the optimizer step runs")
    fast.add_argument("--cudnn-benchmark", action=argparse.BooleanOptionalAction, default=None)
    fast.add_argument(
        "--tf32",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="TF32 for fp32 matmuls and convolutions (default: off, fp32 is fp32)",
    )
    fast.add_argument(
        "--exact",
        action="store_true",
        help="d2l's exact path: fp32 without TF32, NCHW, eager, a for-loop SGD step, no autotuning",
    )
    parser.add_argument("--synthetic", action="store_true", help="random data, for throughput only")
    parser.add_argument("--data-dir", help="folder holding the four Fashion-MNIST files")
    parser.add_argument("--out", default="results/runs", help="folder of run records (default: results/runs)")
    parser.add_argument("--force", action="store_true", help="rerun runs whose records exist")
    parser.add_argument("--oom-retry", action="store_true", help="after running out of memory, retry at half batch")
    parser.add_argument(
        "--ddp",
        action="store_true",
        help="under torchrun: train each run data-parallel over all ranks (default: deal the runs out)",
    )
    parser.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="each run in a process of its own (default: on CUDA only)",
    )
    parser.add_argument(
        "--run-timeout",
        type=float,
        metavar="SECONDS",
        help="stop an isolated run after this long and record it as timeout (default: no limit)",
    )
    parser.add_argument("--max-minutes", type=float, metavar="N",
                        help="start no run that the records say cannot finish within N minutes of the suite's start; "
                             "the same command resumes")  # fmt: skip
    add_import_argument(parser)


# --- checking the arguments -------------------------------------------------------------------------------------


def resolve_device(requested: str | None) -> str:
    if requested is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise UsageError(f"--device {requested!r} is not a device (use cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {requested}: CUDA is not available on this machine (use --device cpu)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(f"--device {requested}: there are {torch.cuda.device_count()} CUDA devices")
        return str(device)
    if device.type != "cpu":
        raise UsageError(f"--device {requested}: only cpu and cuda are supported")
    return "cpu"


def resolve_archs(patterns: list[str]) -> list[str]:
    names: list[str] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            matched = archs.list_models(pattern)
            if not matched:
                raise UsageError(f"--arch {pattern!r} matches no architecture; `python -m benchmarks list` lists them")
        else:
            try:
                archs.get_entry(pattern)
            except KeyError as err:
                raise UsageError(err.args[0]) from None
            matched = [pattern]
        names += [n for n in matched if n not in names]
    return names


def check_positive(args) -> None:
    for flag, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size), ("--lr", args.lr),
                        ("--max-minutes", args.max_minutes), ("--run-timeout", args.run_timeout),
                        ("--resolution", args.resolution), ("--train-subset", args.train_subset),
                        ("--test-subset", args.test_subset)):  # fmt: skip
        if value is not None and not value > 0:
            raise UsageError(f"{flag} must be positive, not {value}")


def check_writable(folder: str) -> Path:
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise UsageError(f"--out {folder}: cannot write there ({err.strerror or err})") from None
    return path


@dataclasses.dataclass(frozen=True)
class Plan:
    device: str  # as torch names it: cpu, cuda, cuda:1
    machine: str  # the machine's slug
    defaults: FastPath  # the machine's fast defaults
    why: str  # why those defaults
    configs: list[RunConfig]


def default_profile(device_kind: str) -> str:
    """``full`` (d2l's recipe, every entry) where a GPU makes it minutes; ``cpu`` (results a CPU affords) elsewhere."""
    return "full" if device_kind == "cuda" else "cpu"


def plan(args, w: distributed.World | None = None) -> Plan:
    """Every configuration the suite will run, each checked; raises UsageError on the first bad argument."""
    w = w or distributed.World()
    import_user_modules(args.imports)
    check_positive(args)
    if args.ddp and not w.active:
        raise UsageError("--ddp needs several processes: start the suite with torchrun --nproc-per-node N")
    try:
        recipes.with_parts(recipes.D2L, args.recipe_parts)  # checked once, before anything runs
    except ValueError as err:
        raise UsageError(str(err)) from None
    device = resolve_device(args.device)
    if w.active and device == "cuda":
        device = f"cuda:{w.local_rank}"  # one GPU per rank
    kind = torch.device(device).type
    profile = PROFILES[args.profile or default_profile(kind)]
    names = resolve_archs(args.arch or list(profile.archs or ["*"]))
    if args.precision == "fp16" and kind == "cpu":
        raise UsageError("--precision fp16 needs CUDA; on a CPU use bf16 or fp32")
    defaults, why = fast_defaults(machine.capability(device))
    explicit = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(FastPath)}
    fast = resolve_fast(defaults, explicit, exact=args.exact)
    overrides = {
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "optimizer": args.optimizer,
        "recipe": args.recipe, "recipe_parts": args.recipe_parts,
        "resolution": args.resolution, "train_subset": args.train_subset, "test_subset": args.test_subset,
        "data": "synthetic" if args.synthetic else None,
    }  # fmt: skip
    slug = machine.machine_slug(device)
    configs = []
    for name in names:
        entry = archs.get_entry(name)
        for seed in args.seeds or profile.seeds:
            config = resolve(entry, profile, slug, kind, seed, fast, overrides)
            if args.ddp:
                config = dataclasses.replace(config, world_size=w.size)
                if config.batch_size % w.size:
                    raise UsageError(f"{name}: batch {config.batch_size} does not split over {w.size} ranks")
            try:
                entry.check_input_size(config.resolution)
            except ValueError as err:
                raise UsageError(str(err)) from None
            if config.optimizer not in OPTIMIZERS:
                raise UsageError(f"{name}: its recipe names optimizer {config.optimizer!r}; known: "
                                 f"{', '.join(sorted(OPTIMIZERS))}")  # fmt: skip
            configs.append(config)
    return Plan(device, slug, defaults, why, configs)


# --- running ----------------------------------------------------------------------------------------------------


def load_data(args, device: str) -> Dataset:
    data = synthetic_fashion_mnist() if args.synthetic else real_fashion_mnist(args.data_dir)
    return data.to(device)


def is_oom(err: BaseException) -> bool:
    return isinstance(err, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in str(err).lower()


def static_fields(config: RunConfig, data: Dataset, device: str, model=None) -> dict:
    """What a record says whatever the outcome: the entry, the machine, the data, and, given the built ``model``,
    its size and cost (None without it: the parent of an isolated run runs none of the model's code, which may be
    what crashed)."""
    entry = archs.get_entry(config.arch)
    apply_backend_settings(config.fast)  # before the fingerprint, which records the TF32 and cuDNN switches in force
    return dict(
        arch=config.arch, description=entry.description, tags=list(entry.tags), config=config,
        params=count_params(model) if model is not None else None,
        flops=forward_flops(model, config.resolution) if model is not None else None,
        reference=entry.published, env=machine.fingerprint(device), data=DataInfo(**data.describe()),
        report=report_facts(config, entry, shapes=model is not None),
    )  # fmt: skip


def report_facts(config: RunConfig, entry, shapes: bool) -> ReportFacts:
    """What the leaderboard needs beyond the numbers, decided here once. ``shapes``: the network's shapes may be
    traced (on the meta device); the parent of an isolated run, which runs no model code, leaves them out."""
    profile = PROFILES[config.profile]
    note, side = "", None
    if shapes:
        with torch.device("meta"):  # shapes only: no memory for the weights of a 128 M-parameter VGG
            note = design_note(entry.build(), entry.input_size, config.resolution)
            side = class_map_side(entry.build(), config.resolution)
    result = profile.accuracy_is_result and config.data == "real"
    return ReportFacts(note, side, result, result and profile.against_d2l)


def failed_record(config: RunConfig, dataset: Dataset, device: str, status: str, error: str, **extra) -> RunRecord:
    """The record of a run that left none itself (an isolated run that crashed or ran out of time)."""
    data = dataset.subset(config.train_subset, config.test_subset, seed=SUBSET_SEED)
    return RunRecord(**static_fields(config, data, device), status=status, error=error, **extra)


def run_one(
    config: RunConfig, dataset: Dataset, device: str, log=print, oom_retry: bool = False,
    world: distributed.World | None = None,
) -> RunRecord:  # fmt: skip
    """Train one configuration and return its run record; failures become the record's status. With ``world``
    (--ddp), this rank's share of a data-parallel run: every rank returns the record, rank 0 writes it."""
    rank, size = (world.rank, world.size) if world else (0, 1)
    entry = archs.get_entry(config.arch)
    data = dataset.subset(config.train_subset, config.test_subset, seed=SUBSET_SEED)
    model = entry.build()
    static = static_fields(config, data, device, model)
    batch_size, retries = config.batch_size, []
    while True:
        settings = TrainSettings(epochs=config.epochs, lr=config.lr, optimizer=config.optimizer, device=device,
                                 seed=config.seed, fast=config.fast, recipe=config.recipe, ddp=world is not None)  # fmt: skip
        channels_last = config.fast.channels_last
        train_loader = DeviceLoader(data.train_images, data.train_labels, batch_size, config.resolution,
                                    shuffle=True, seed=config.seed, channels_last=channels_last,
                                    flip=config.recipe.flip, translate=config.recipe.translate,
                                    rank=rank, world=size)  # fmt: skip
        test_loader = DeviceLoader(data.test_images, data.test_labels, batch_size, config.resolution,
                                   channels_last=channels_last, rank=rank, world=size)  # fmt: skip
        used = batch_size if retries else None
        try:
            result = train(model, train_loader, test_loader, settings, log=log)
            parallel = None
            if world is not None:
                parallel = DataParallel(
                    world_size=size, backend=distributed.backend(device), per_rank_batch=batch_size // size,
                    global_batch=batch_size, lr_rule="none: the global batch is the recipe's, so is its lr",
                    aggregate_examples_per_sec=result.final.train_examples_per_sec,
                    rank0_examples_per_sec=result.rank_examples_per_sec,
                )  # fmt: skip
            return RunRecord(**static, status="ok", epochs=result.epochs, evals=result.evals, final=result.final,
                             peak_memory_bytes=result.peak_memory_bytes, oom_retries=retries,
                             batch_size_used=used, data_parallel=parallel)  # fmt: skip
        except Diverged as err:
            log(f"  diverged: {err}")
            return RunRecord(**static, status="diverged", epochs=err.epochs, error=str(err),
                             diverged_epoch=err.epoch, oom_retries=retries, batch_size_used=used)  # fmt: skip
        except Exception as err:  # one architecture failing must not stop the suite
            if not is_oom(err):
                log(f"  error: {err.__class__.__name__}: {err}")
                return RunRecord(**static, status="error", error=f"{err.__class__.__name__}: {err}",
                                 oom_retries=retries, batch_size_used=used)  # fmt: skip
            model = None
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
            if not oom_retry or batch_size == 1:
                log(f"  out of memory at batch {batch_size}")
                return RunRecord(**static, status="oom", error=f"out of memory at batch size {batch_size}",
                                 oom_retries=[*retries, batch_size], batch_size_used=used)  # fmt: skip
            log(f"  out of memory at batch {batch_size}; retrying at {batch_size // 2}")
            retries.append(batch_size)
            batch_size //= 2
            model = entry.build()


def run_in_child(config: RunConfig, path: Path, dataset: Dataset, device: str, args, replace: bool):
    """Run one configuration in its own process; its record, or the crashed/timeout record written for it here.
    None when another suite wrote the record first."""
    outcome = isolation.run_isolated(config, path, device, args, replace=replace)
    if outcome.status == "written":
        record, problem = records.read_record(path)
        if record is not None:
            return record
        outcome = dataclasses.replace(outcome, status="crashed", detail=f"its record is unreadable: {problem}")
    print(f"  {outcome.status}: {outcome.detail}")
    record = failed_record(config, dataset, device, outcome.status, outcome.detail,
                           run_seconds=outcome.seconds, output_tail=outcome.tail)  # fmt: skip
    try:
        records.write_record(path, record, replace=replace or path.exists())
    except records.RecordExists:
        return None
    return record


def describe_fast(fast: FastPath) -> str:
    parts = [
        fast.precision + (" (TF32 on)" if fast.tf32 else ""),
        "channels-last" if fast.channels_last else "NCHW",
        f"compiled ({fast.compile_mode})" if fast.compile else "eager",
        f"{fast.optimizer_impl} optimizer step",
    ]
    if fast.cudnn_benchmark:
        parts.append("cuDNN autotuning")
    return ", ".join(parts)


def describe_plan(p: Plan, args) -> str:
    profile = PROFILES[p.configs[0].profile]
    lines = [
        f"machine {p.machine}: {machine.device_name(p.device)} (device {p.device})",
        f"fast defaults for it: {describe_fast(p.defaults)}. Why: {p.why}",
        f"profile {profile.name}: {profile.description}",
    ]
    if args.profile is None:
        lines[-1] += f" [default for this device; --profile {'|'.join(sorted(PROFILES))} to choose]"
    if profile.budget_rule:
        lines.append(f"budget rule: {profile.budget_rule}")
    for c in p.configs:
        lines.append(
            f"  {c.arch} seed {c.seed}: {c.recipe.name} recipe, {c.epochs} epochs, batch {c.batch_size}, "
            f"{c.optimizer} lr {c.lr:g}, "
            f"{c.resolution} px, train {c.train_subset or 'all'}, test {c.test_subset or 'all'}, "
            f"{'as the defaults' if c.fast == p.defaults else describe_fast(c.fast)}"
            f"{', synthetic data' if c.data == 'synthetic' else ''}"
        )
    return "\n".join(lines)


def main(args) -> int:
    started = time.monotonic()
    w = distributed.world()
    p = plan(args, w)
    out = check_writable(args.out)
    if not p.configs:
        raise UsageError("nothing to run")
    isolate = args.isolate if args.isolate is not None else p.device.startswith("cuda") and not args.ddp
    if args.run_timeout and not isolate:
        raise UsageError("--run-timeout needs --isolate: only a run in its own process can be stopped safely")
    if isolate and args.ddp:
        raise UsageError("--ddp runs every rank in the one process torchrun started; it cannot be --isolate'd")
    dataset = load_data(args, "cpu" if isolate else p.device)  # isolated: each child moves its own copy
    distributed.init(w, p.device)
    say = print if w.rank == 0 else (lambda *a, **k: None)
    say(describe_plan(p, args), flush=True)
    if isolate:
        say("each run in a process of its own" + (f", stopped after {args.run_timeout:g} s" if args.run_timeout
                                                  else ", no time limit"), flush=True)  # fmt: skip
    if w.active:
        say(f"{w.size} ranks: " + ("each run data-parallel over all of them (--ddp)" if args.ddp else
                                   "the runs dealt out, run i to rank i % world size"), flush=True)  # fmt: skip
    numbered = list(enumerate(p.configs, 1))
    mine = numbered if args.ddp else distributed.shard(numbered, w)
    finished = records.read_records(out / p.machine) if args.max_minutes else []
    failed = []
    try:
        for i, config in mine:
            status = run_planned(i, config, p, out, dataset, args, isolate, w, started, finished)
            if status == "stop":
                break
            if status not in (None, "ok"):
                failed.append(f"{config.arch} seed {config.seed}: {status}")
        everyone = distributed.gather(failed, w)  # every rank done: then the summary, once
    finally:
        distributed.finish()
    failed = [f for rank_failed in everyone for f in rank_failed]
    if failed:
        say(f"{len(failed)} run(s) failed: " + "; ".join(failed))
        return 1
    return 0


def run_planned(i: int, config, p: Plan, out: Path, dataset, args, isolate: bool, w, started: float, finished: list):
    """The i-th planned run, start to record: its status, None when skipped, or "stop" when the time budget is
    spent."""
    total = len(p.configs)
    tag = f"[{i}/{total}]" + (f" rank {w.rank}" if w.active and not args.ddp else "")
    say = print if (w.rank == 0 or not args.ddp) else (lambda *a, **k: None)
    path = out / config.file_name()
    existed = path.exists()
    done = existed and not args.force and records.is_done(path, config)
    if args.ddp:  # every rank must take the same decision: rank 0's
        done, existed = distributed.gather((done, existed), w)[0]
    if done:
        say(f"{tag} {config.arch} seed {config.seed}: done already on {p.machine} ({path.name}), skipped")
        return None
    if args.max_minutes:
        left = args.max_minutes * 60 - (time.monotonic() - started)
        needed = budget.estimate_seconds(config, finished)
        if needed is not None and needed > left:
            say(
                f"{tag} {config.arch} seed {config.seed}: needs about {needed:,.0f} s by this machine's records, "
                f"{max(left, 0):,.0f} s of --max-minutes left; stopping here. Run the same command to resume."
            )
            return "stop"
    say(f"{tag} {config.arch} seed {config.seed}", flush=True)
    if isolate:
        record = run_in_child(config, path, dataset, p.device, args, replace=args.force or existed)
    else:
        record = run_one(config, dataset, p.device, log=say, oom_retry=args.oom_retry, world=w if args.ddp else None)
        if w.rank == 0 or not args.ddp:
            try:
                records.write_record(path, record, replace=args.force or existed)
            except records.RecordExists:
                record = None
    if record is None:
        say(f"  another suite finished this run first; kept its record {path.name}")
        return None
    finished.append(record)
    if record.status == "ok":
        final = record.final
        say(f"  test acc {final.test_acc:.3f}, {rate(final.train_examples_per_sec)}, {final.train_seconds:.1f} s "
            f"-> {path}")  # fmt: skip
    return record.status
