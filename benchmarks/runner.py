"""``python -m benchmarks run``: train and time architectures, one run record per (architecture, config, seed).

A suite resumes: runs whose records exist and are complete are skipped (``--force`` reruns them). One run that
diverges, runs out of memory or raises is recorded as such and the suite goes on; the exit status is 1 if any run
failed. Every argument is checked before any training starts.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

import archs
from benchmarks import environment, records
from benchmarks.config import PROFILES, RunConfig, resolve
from benchmarks.device_data import Dataset, DeviceLoader, real_fashion_mnist, synthetic_fashion_mnist
from benchmarks.harness import Diverged, TrainSettings, rate, train
from benchmarks.model_stats import count_params, forward_flops

SUBSET_SEED = 0  # every seed of a configuration trains on the same subset; the seed varies init and order only


class UsageError(Exception):
    """A bad argument: reported in one line before any training starts."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", nargs="+", default=["*"], metavar="PATTERN", help="names or shell patterns")
    parser.add_argument("--profile", choices=sorted(PROFILES), help="default: full on CUDA, smoke on CPU")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--resolution", type=int, help="input side in pixels")
    parser.add_argument("--device", help="cuda, cuda:N or cpu (default: cuda when present)")
    parser.add_argument("--seed", "--seeds", dest="seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--train-subset", type=int, metavar="N", help="a seeded subset of N training images")
    parser.add_argument("--test-subset", type=int, metavar="N", help="a seeded subset of N test images")
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--exact", action="store_true", help="d2l's exact path: fp32, eager, plain SGD")
    parser.add_argument("--synthetic", action="store_true", help="random data, for throughput only")
    parser.add_argument("--data-dir", help="folder holding the four Fashion-MNIST files")
    parser.add_argument("--out", default="results/runs", help="folder of run records (default: results/runs)")
    parser.add_argument("--force", action="store_true", help="rerun runs whose records exist")
    parser.add_argument("--oom-retry", action="store_true", help="after running out of memory, retry at half batch")
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help="a module or .py file that registers more architectures (repeatable)")  # fmt: skip


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


def import_user_modules(specs: list[str]) -> None:
    for spec in specs:
        try:
            archs.import_models(spec)
        except Exception as err:  # a user's module can fail in any way; say which and how
            raise UsageError(f"--import {spec}: {err.__class__.__name__}: {err}") from None


def plan(args) -> tuple[str, list[RunConfig]]:
    """Every configuration the suite will run, each checked; raises UsageError on the first bad argument."""
    import_user_modules(args.imports)
    check_positive(args)
    names = resolve_archs(args.arch)
    device = resolve_device(args.device)
    kind = torch.device(device).type
    profile = PROFILES[args.profile or ("full" if kind == "cuda" else "smoke")]
    if args.precision == "fp16" and kind == "cpu":
        raise UsageError("--precision fp16 needs CUDA; on a CPU use bf16 or fp32")
    overrides = {
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "resolution": args.resolution,
        "train_subset": args.train_subset, "test_subset": args.test_subset, "precision": args.precision,
        "compile": args.compile, "channels_last": args.channels_last,
        "data": "synthetic" if args.synthetic else None,
    }  # fmt: skip
    configs = []
    for name in names:
        entry = archs.get_entry(name)
        for seed in args.seeds:
            config = resolve(entry, profile, kind, seed, overrides, exact=args.exact)
            try:
                entry.check_input_size(config.resolution)
            except ValueError as err:
                raise UsageError(str(err)) from None
            configs.append(config)
    return device, configs


# --- running ----------------------------------------------------------------------------------------------------


def load_data(args, device: str) -> Dataset:
    data = synthetic_fashion_mnist() if args.synthetic else real_fashion_mnist(args.data_dir)
    return data.to(device)


def is_oom(err: BaseException) -> bool:
    return isinstance(err, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in str(err).lower()


def run_one(config: RunConfig, dataset: Dataset, device: str, log=print, oom_retry: bool = False) -> dict:
    """Train one configuration and return its run record; failures become the record's status."""
    entry = archs.get_entry(config.arch)
    model = entry.build()
    record = {
        "schema": records.SCHEMA_VERSION,
        "arch": config.arch,
        "description": entry.description,
        "tags": list(entry.tags),
        "config": config.as_dict(),
        "params": count_params(model),
        "flops": forward_flops(model, config.resolution),
        "reference": entry.published.__dict__ if entry.published else None,
        "env": environment.describe(device, config.precision),
        "data": dataset.describe(),
        "epochs": [],
        "final": None,
        "peak_memory_bytes": None,
        "status": "ok",
    }
    data = dataset.subset(config.train_subset, config.test_subset, seed=SUBSET_SEED)
    record["data"].update(train_examples=len(data.train_labels), test_examples=len(data.test_labels))
    batch_size = config.batch_size
    while True:
        settings = TrainSettings(
            epochs=config.epochs, lr=config.lr, device=device, precision=config.precision,
            channels_last=config.channels_last, compile=config.compile,
            fused_optimizer=config.fused_optimizer, seed=config.seed,
        )  # fmt: skip
        train_loader = DeviceLoader(data.train_images, data.train_labels, batch_size, config.resolution,
                                    shuffle=True, seed=config.seed, channels_last=config.channels_last)  # fmt: skip
        test_loader = DeviceLoader(data.test_images, data.test_labels, batch_size, config.resolution,
                                   channels_last=config.channels_last)  # fmt: skip
        try:
            record.update(train(model, train_loader, test_loader, settings, log=log))
            return record
        except Diverged as err:
            log(f"  diverged: {err}")
            record.update(status="diverged", diverged_epoch=err.epoch, epochs=err.epochs, error=str(err))
            return record
        except Exception as err:  # one architecture failing must not stop the suite
            if not is_oom(err):
                log(f"  error: {err.__class__.__name__}: {err}")
                record.update(status="error", error=f"{err.__class__.__name__}: {err}")
                return record
            model = None
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
            if not oom_retry or batch_size == 1:
                log(f"  out of memory at batch {batch_size}")
                record.update(status="oom", error=f"out of memory at batch size {batch_size}")
                return record
            log(f"  out of memory at batch {batch_size}; retrying at {batch_size // 2}")
            record.setdefault("oom_retries", []).append(batch_size)
            batch_size //= 2
            record["batch_size_used"] = batch_size
            model = entry.build()


def describe_plan(device: str, configs: list[RunConfig], args) -> str:
    profile = PROFILES[configs[0].profile]
    lines = [f"profile {profile.name} on {device} ({environment.device_name(device)}): {profile.description}"]
    if args.profile is None:
        lines[0] += " [default for this device; --profile full|smoke to choose]"
    for c in configs:
        lines.append(
            f"  {c.arch} seed {c.seed}: {c.epochs} epochs, batch {c.batch_size}, lr {c.lr:g}, {c.resolution} px, "
            f"train {c.train_subset or 'all'}, test {c.test_subset or 'all'}, {c.precision}"
            f"{', channels-last' if c.channels_last else ''}{', compiled' if c.compile else ''}"
            f"{', synthetic data' if c.data == 'synthetic' else ''}"
        )
    return "\n".join(lines)


def main(args) -> int:
    device, configs = plan(args)
    out = check_writable(args.out)
    if not configs:
        raise UsageError("nothing to run")
    dataset = load_data(args, device)
    print(describe_plan(device, configs, args), flush=True)
    failed = []
    for i, config in enumerate(configs, 1):
        path = out / config.file_name()
        existed = path.exists()
        if existed and not args.force and records.is_done(path):
            print(f"[{i}/{len(configs)}] {config.arch} seed {config.seed}: done already ({path.name}), skipped")
            continue
        print(f"[{i}/{len(configs)}] {config.arch} seed {config.seed}", flush=True)
        record = run_one(config, dataset, device, oom_retry=args.oom_retry)
        try:
            records.write_record(path, record, replace=args.force or existed)
        except records.RecordExists:
            print(f"  another suite finished this run first; kept its record {path.name}")
            continue
        if record["status"] != "ok":
            failed.append(f"{config.arch} seed {config.seed}: {record['status']}")
        else:
            final = record["final"]
            print(f"  test acc {final['test_acc']:.3f}, {rate(final['train_examples_per_sec'])}, "
                  f"{final['train_seconds']:.1f} s -> {path}")  # fmt: skip
    if failed:
        print(f"{len(failed)} run(s) failed: " + "; ".join(failed))
        return 1
    return 0
