"""One run, start to record: the data subset, the model built and trained, the record with everything it states
(whatever the outcome: a diverged, out-of-memory or failed run is a record too)."""

from __future__ import annotations

import dataclasses
import gc
from pathlib import Path

import torch

import archs
from benchmarks.data.device_data import Dataset, DeviceLoader, real_fashion_mnist, synthetic_fashion_mnist
from benchmarks.measure import machine
from benchmarks.measure.model_stats import class_map_side, count_params, design_note, forward_flops
from benchmarks.run.profiles import PROFILES
from benchmarks.schema.config import RunConfig
from benchmarks.schema.records import DataInfo, DataParallel, Reference, ReportFacts, RunRecord
from benchmarks.train import checkpoint, distributed
from benchmarks.train.checkpoint import Checkpoint
from benchmarks.train.compute import apply_backend_settings
from benchmarks.train.harness import Diverged, TrainSettings, optimizer_step_flops, train

SUBSET_SEED = 0  # every seed of a configuration trains on the same subset; the seed varies init and order only


def load_data(synthetic: bool, data_dir: str | None, device: str) -> Dataset:
    data = synthetic_fashion_mnist() if synthetic else real_fashion_mnist(data_dir)
    return data.to(device)


def is_oom(err: BaseException) -> bool:
    return isinstance(err, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in str(err).lower()


def static_fields(config: RunConfig, data: Dataset, device: str, model=None) -> dict:
    """What a record says whatever the outcome: the entry, the machine, the data, and, given the built ``model``,
    its size and cost (None without it: the parent of an isolated run runs none of the model's code, which may be
    what crashed)."""
    entry = archs.get_entry(config.arch, sized=model is not None)  # no model, no model code: not even its sizes
    apply_backend_settings(config.fast)  # before the fingerprint, which records the TF32 and cuDNN switches in force
    return dict(
        arch=config.arch, description=entry.description, tags=list(entry.tags), config=config,
        params=count_params(model) if model is not None else None,
        flops=forward_flops(model, config.resolution) if model is not None else None,
        optimizer_flops=optimizer_step_flops(model, config.optimizer) if model is not None else None,
        reference=Reference(**dataclasses.asdict(entry.published)) if entry.published else None,
        env=machine.fingerprint(device), data=DataInfo(**data.describe()),
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
    world: distributed.World | None = None, record: Path | None = None, fresh: bool = False,
) -> RunRecord:  # fmt: skip
    """Train one configuration and return its run record; failures become the record's status. With ``world``
    (--ddp), this rank's share of a data-parallel run: every rank returns the record, rank 0 writes it. With
    ``record`` (where its record goes; not with ``world``), the run saves its state between epochs beside it and
    resumes a state saved there by an earlier process of the same run (``fresh``: it starts afresh), which is
    removed once the run has an outcome."""
    saved_beside = record if world is None else None  # a data-parallel run saves none
    if saved_beside is not None and fresh:
        checkpoint.discard(saved_beside)
    outcome = _run_one(config, dataset, device, log, oom_retry, world, saved_beside)
    if saved_beside is not None:  # ok, diverged, failed or out of memory; stopped, it raised: kept
        checkpoint.discard(saved_beside)
    return outcome


def _run_one(config, dataset, device, log, oom_retry, world, saved_beside) -> RunRecord:
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
        saver = None if saved_beside is None else Checkpoint(checkpoint.path_for(saved_beside),
                                                             checkpoint.key(config, batch_size, static["env"].get("git")))  # fmt: skip
        try:
            result = train(model, train_loader, test_loader, settings, log=log, checkpoint=saver)
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
            if world is not None:  # --ddp: the other ranks wait in a collective for this one; end them all
                raise  # (torchrun stops every rank when one fails; the same command reruns the run)
            if not is_oom(err):
                log(f"  error: {err.__class__.__name__}: {err}")
                return RunRecord(**static, status="error", error=f"{err.__class__.__name__}: {err}",
                                 oom_retries=retries, batch_size_used=used)  # fmt: skip
        # out of memory, and out of the except block: its traceback, which held the failed step's tensors, is gone
        model = None
        gc.collect()
        if config.fast.compile:
            torch._dynamo.reset()  # the retry compiles its own graphs, for its own batch
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
