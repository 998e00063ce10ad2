"""pytest-benchmark: batches/sec of the device-resident pipeline against a d2l-style DataLoader.

Run: ``pytest perf/bench_pipeline.py`` (``nox -s bench`` runs it).
Both serve 224-px batches of 128 real Fashion-MNIST images; d2l's resizes each example on the CPU
(PIL bilinear resize, then ToTensor) in DataLoader workers, ours resizes whole batches where the data lives.
"""

import itertools

import torch

from benchmarks.data.device_data import DeviceLoader
from perf.d2l_baseline import d2l_loader, endless

RESOLUTION, BATCH, BATCHES_PER_ROUND = 224, 128, 10


def run_batches(batches) -> int:
    n = 0
    for x, _ in itertools.islice(batches, BATCHES_PER_ROUND):
        n += len(x)
    return n


def test_device_pipeline(benchmark, data):
    loader = DeviceLoader(data.train_images, data.train_labels, BATCH, RESOLUTION, shuffle=True)
    batches = endless(loader)
    run_batches(batches)  # warm-up
    benchmark.extra_info.update(resolution=RESOLUTION, batch_size=BATCH, batches_per_round=BATCHES_PER_ROUND)
    benchmark.pedantic(run_batches, args=(batches,), rounds=5, iterations=1)
    benchmark.extra_info["batches_per_sec"] = BATCHES_PER_ROUND / benchmark.stats.stats.mean


def test_d2l_dataloader(benchmark, data):
    images, labels = data.train_images.numpy(), data.train_labels.numpy()
    loader = d2l_loader(images, labels, RESOLUTION, BATCH, workers=torch.get_num_threads())
    batches = endless(loader)
    run_batches(batches)  # warm-up: starts the workers
    benchmark.extra_info.update(resolution=RESOLUTION, batch_size=BATCH, batches_per_round=BATCHES_PER_ROUND)
    benchmark.pedantic(run_batches, args=(batches,), rounds=3, iterations=1)
    benchmark.extra_info["batches_per_sec"] = BATCHES_PER_ROUND / benchmark.stats.stats.mean
