"""Serve a data set from the device: each split lives there as one uint8 tensor, moved once.

Per batch, on the device: gather the indices, convert to float in [0, 1] (d2l's ``ToTensor``), resize the whole
batch with one bilinear interpolation (d2l's ``Resize``), optionally go channels-last. No per-example Python
work: a batch is a handful of tensor ops, whatever the resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.data import fashion_mnist
from benchmarks.schema.config import SPLITS


@dataclass
class Dataset:
    """Both splits as uint8 images (N, H, W) and int64 labels, plus where they came from."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str  # "real" or "synthetic"; synthetic data never yields an accuracy worth reporting
    location: str = ""
    sha256: dict[str, str] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> Dataset:
        move = lambda t: t.to(device, non_blocking=True)  # noqa: E731
        return Dataset(
            move(self.train_images), move(self.train_labels), move(self.test_images), move(self.test_labels),
            self.source, self.location, self.sha256,
        )  # fmt: skip

    def subset(self, train: int | None = None, test: int | None = None, seed: int = 0) -> Dataset:
        """A seeded random subset of each split (None keeps the whole split)."""
        generator = torch.Generator().manual_seed(seed)

        def pick(images, labels, n):
            if n is None or n >= len(labels):
                return images, labels
            idx = torch.randperm(len(labels), generator=generator)[:n].to(labels.device)
            return images[idx], labels[idx]

        train_images, train_labels = pick(self.train_images, self.train_labels, train)
        test_images, test_labels = pick(self.test_images, self.test_labels, test)
        return Dataset(train_images, train_labels, test_images, test_labels, self.source, self.location, self.sha256)

    def describe(self) -> dict:
        """What a run record says about its data."""
        return {
            "source": self.source,
            "location": self.location,
            "train_examples": len(self.train_labels),
            "test_examples": len(self.test_labels),
            "sha256": dict(self.sha256),
        }


def real_fashion_mnist(data_dir=None, download: bool = True) -> Dataset:
    raw = fashion_mnist.load(data_dir, download)
    as_tensor = lambda a: torch.from_numpy(np.array(a))  # a writable copy; the parsed arrays are read-only views  # noqa: E731
    return Dataset(
        as_tensor(raw.train_images), as_tensor(raw.train_labels).long(),
        as_tensor(raw.test_images), as_tensor(raw.test_labels).long(),
        "real", raw.location, raw.sha256,
    )  # fmt: skip


def synthetic_fashion_mnist(seed: int = 0, train: int = SPLITS["train"], test: int = SPLITS["test"]) -> Dataset:
    """Random images and labels with the real set's shapes and dtypes, for throughput-only runs."""
    g = torch.Generator().manual_seed(seed)
    images = lambda n: torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g)  # noqa: E731
    labels = lambda n: torch.randint(0, 10, (n,), generator=g)  # noqa: E731
    return Dataset(images(train), labels(train), images(test), labels(test), "synthetic", "synthetic")


def augment(images: torch.Tensor, generator: torch.Generator, flip: bool, translate: int) -> torch.Tensor:
    """Random horizontal flips and translations of a uint8 batch (B, H, W), on its device, per example, in a few
    whole-batch tensor ops; shifted-in pixels are 0 (the background). Labels are untouched: the i-th image stays
    the i-th."""
    n, h, w = images.shape
    device = images.device
    if flip:
        flipped = torch.rand(n, generator=generator, device=generator.device).lt(0.5).to(device)
        images = torch.where(flipped.view(n, 1, 1), images.flip(-1), images)
    if translate:
        t = translate
        dy, dx = (torch.randint(-t, t + 1, (n,), generator=generator, device=generator.device).to(device)
                  for _ in range(2))  # fmt: skip
        padded = F.pad(images, (t, t, t, t))
        rows = (torch.arange(h, device=device) + t - dy.view(n, 1)).view(n, h, 1)
        cols = (torch.arange(w, device=device) + t - dx.view(n, 1)).view(n, 1, w)
        images = padded[torch.arange(n, device=device).view(n, 1, 1), rows, cols]
    return images


def prepare_batch(images_u8: torch.Tensor, resolution: int, channels_last: bool = False) -> torch.Tensor:
    """uint8 (B, H, W) -> float (B, 1, R, R) in [0, 1], resized with one batched bilinear interpolation."""
    x = images_u8.unsqueeze(1).float().div_(255.0)
    if x.shape[-1] != resolution or x.shape[-2] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


class DeviceLoader:
    """Batches of one split, prepared on the split's device.

    With ``shuffle``, each pass draws a new order from a generator seeded once: the same seed gives the same
    sequence of orders on every run and every device.
    """

    def __init__(
        self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, resolution: int,
        shuffle: bool = False, seed: int = 0, channels_last: bool = False, flip: bool = False, translate: int = 0,
        rank: int = 0, world: int = 1,
    ):  # fmt: skip
        if batch_size <= 0:
            raise ValueError(f"batch size must be positive, not {batch_size}")
        self.images, self.labels = images, labels
        self.batch_size, self.resolution = batch_size, resolution
        self.shuffle, self.channels_last = shuffle, channels_last
        self.flip, self.translate = flip, translate
        # data-parallel: every rank draws the same global batches and keeps every world-th example from its rank on;
        # a last global batch smaller than the world is dropped, so that every rank takes the same number of steps
        self.rank, self.world = rank, world
        self.generator = torch.Generator().manual_seed(seed)
        # its own stream, so that augmenting leaves the order of examples exactly as it is without; on the images'
        # device, so that drawing flips and shifts needs no host-to-device copy (and no stream sync) per batch
        self.augment_generator = torch.Generator(device=images.device).manual_seed(seed + 1_000_003)

    def _batches(self) -> list[tuple[int, int]]:
        """(start, size) of each global batch an epoch serves."""
        n = len(self.labels)
        spans = [(start, min(self.batch_size, n - start)) for start in range(0, n, self.batch_size)]
        return [s for s in spans if s[1] >= self.world]

    def __len__(self) -> int:
        return len(self._batches())

    @property
    def num_examples(self) -> int:
        """The examples this rank serves in an epoch (all of them, in one process)."""
        return sum(len(range(self.rank, size, self.world)) for _, size in self._batches())

    def shape_samples(self):
        """One batch of every size an epoch serves on this rank (the full batch, and the remainder where there is
        one), from the front of the split: what a warm-up runs. Draws nothing from the shuffling generator.

        Every rank yields as many as the rank with the most sizes (its last size repeated): under data parallelism
        each warm-up step is a collective, and ranks that took different numbers of them would hang."""
        per_rank = [sorted({len(range(r, size, self.world)) for _, size in self._batches()}, reverse=True)
                    for r in range(self.world)]  # fmt: skip
        sizes = per_rank[self.rank]
        sizes = sizes + sizes[-1:] * (max(map(len, per_rank)) - len(sizes))
        for size in sizes:
            yield prepare_batch(self.images[:size], self.resolution, self.channels_last), self.labels[:size]

    def __iter__(self):
        n = len(self.labels)
        order = torch.randperm(n, generator=self.generator).to(self.labels.device) if self.shuffle else None
        for start, size in self._batches():
            if order is None and self.world == 1:
                images, labels = self.images[start : start + size], self.labels[start : start + size]
            else:
                idx = order[start : start + size] if order is not None else torch.arange(start, start + size)
                idx = idx[self.rank :: self.world].to(self.labels.device)
                images, labels = self.images[idx], self.labels[idx]
            if self.flip or self.translate:
                images = augment(images, self.augment_generator, self.flip, self.translate)
            yield prepare_batch(images, self.resolution, self.channels_last), labels
