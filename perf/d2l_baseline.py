"""The d2l-style baseline that the fast path is measured against, written without torchvision.

d2l's pipeline is ``transforms.Compose([Resize(r), ToTensor()])`` on each PIL image in DataLoader workers, and
its ``train_ch6`` step is an fp32 eager step with plain SGD that reads the loss and accuracy back to the host
every batch. Used by the pytest-benchmark suites only.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


class PerExampleResize(torch.utils.data.Dataset):
    """Each item resized with PIL (bilinear) and scaled to [0, 1], as torchvision's Resize + ToTensor do it."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, resolution: int):
        self.images, self.labels, self.resolution = images, labels, resolution

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        image = Image.fromarray(self.images[i])
        if self.resolution != image.width:
            image = image.resize((self.resolution, self.resolution), Image.BILINEAR)
        return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).unsqueeze(0), int(self.labels[i])


def d2l_loader(images: np.ndarray, labels: np.ndarray, resolution: int, batch_size: int, workers: int):
    return torch.utils.data.DataLoader(
        PerExampleResize(images, labels, resolution), batch_size, shuffle=True, num_workers=workers,
        persistent_workers=workers > 0,
    )  # fmt: skip


def endless(loader):
    """Epoch after epoch (itertools.cycle would keep every batch it has seen)."""
    while True:
        yield from loader


def d2l_step(model, optimizer, x, y, device: str) -> tuple[float, float]:
    """One ``train_ch6`` step: fp32, eager, plain SGD, metrics read back to the host every batch."""
    x, y = x.to(device), y.to(device)
    optimizer.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        return float(loss) * len(y), float((logits.argmax(dim=1) == y).sum())
