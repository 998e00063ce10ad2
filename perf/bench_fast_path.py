"""pytest-benchmark: the fast training path against a d2l-style loop, on one architecture, side by side.

Run: ``pytest perf/bench_fast_path.py`` (``--bench-arch``, ``--bench-resolution``,
``--bench-batch`` choose the case; default NiN at 96 px on a CPU, 224 px on CUDA, batch 128). Each round is
``STEPS`` training steps on real Fashion-MNIST, ending with a device synchronize. The variants add one change at
a time, so the notes can say what each one bought.
"""

from __future__ import annotations

import pytest
import torch

import archs
from benchmarks.data.device_data import DeviceLoader
from benchmarks.schema.compute import EXACT, ComputePath
from benchmarks.train.harness import Trainer, TrainSettings, init_weights, synchronize
from perf.d2l_baseline import d2l_loader, d2l_step, endless

STEPS = 4
VARIANTS = {  # name: the harness settings on the device-resident pipeline (None: the d2l-style loop)
    "d2l-style": None,
    "device-data fp32": EXACT,
    "+ foreach SGD": ComputePath(optimizer_impl="foreach"),
    "+ channels-last": ComputePath(optimizer_impl="foreach", channels_last=True),
    "+ bf16 autocast": ComputePath(optimizer_impl="foreach", channels_last=True, precision="bf16"),
    "fast defaults": "defaults",  # the machine's (benchmarks.train.compute.compute_defaults)
}


@pytest.fixture(scope="module")
def case(pytestconfig, device):
    name = pytestconfig.getoption("--bench-arch") or "nin"
    entry = archs.get_entry(name)
    default_resolution = entry.input_size if device.startswith("cuda") else min(96, entry.input_size)
    resolution = max(pytestconfig.getoption("--bench-resolution") or default_resolution, entry.min_input_size)
    return name, resolution, pytestconfig.getoption("--bench-batch") or 128


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_training_steps(benchmark, variant, data, case, device, fast):
    name, resolution, batch = case
    settings = VARIANTS[variant]
    if settings == "defaults":
        settings = fast
    torch.manual_seed(0)
    if settings is None:
        model = archs.get_model(name).to(device)
        init_weights(model)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, foreach=False)
        workers = max(1, torch.get_num_threads())
        batches = endless(d2l_loader(data.train_images.numpy(), data.train_labels.numpy(), resolution, batch, workers))

        def steps():
            for _ in range(STEPS):
                x, y = next(batches)
                d2l_step(model, optimizer, x, y, device)
            synchronize(device)
    else:
        trainer = Trainer(archs.get_model(name), TrainSettings(epochs=1, lr=0.01, device=device, fast=settings))
        on_device = data.to(device)
        loader = DeviceLoader(on_device.train_images, on_device.train_labels, batch, resolution, shuffle=True,
                              channels_last=settings.channels_last)  # fmt: skip
        batches = endless(loader)

        def steps():
            for _ in range(STEPS):
                trainer.step(*next(batches))
            synchronize(device)

    steps()  # warm-up: workers started, kernels chosen, compilation done
    benchmark.extra_info.update(arch=name, resolution=resolution, batch_size=batch, variant=variant, steps=STEPS,
                                fast_path=None if settings is None else settings.__dict__)  # fmt: skip
    benchmark.pedantic(steps, rounds=3 if device == "cpu" else 10, iterations=1)
    benchmark.extra_info["examples_per_sec"] = STEPS * batch / benchmark.stats.stats.mean
