"""torchvision's classifiers as registry entries, by name: ``torchvision:resnet18``.

torchvision is imported only when such a name is asked for, so the suite runs where it is missing or cannot
import (CPU-only torch builds often have no matching torchvision). Each model is built by
``torchvision.models.get_model(name, weights=None, num_classes=...)``: no weights are downloaded. For Fashion-MNIST's
one channel, its first convolution is rebuilt with ``in_channels`` input channels and everything else kept (out
channels, kernel, stride, padding, dilation, groups, bias), freshly initialised like the rest of the network.
"""

from __future__ import annotations

import functools

from torch import nn

PREFIX = "torchvision:"


class TorchvisionUnavailable(ImportError):
    pass


@functools.lru_cache(maxsize=1)
def _torchvision():
    try:
        import torchvision
    except Exception as err:  # an ImportError, or a RuntimeError from a torch build it does not match
        message = f"{err.__class__.__name__}: {err}".splitlines()[0]
        raise TorchvisionUnavailable(f"torchvision cannot be imported here ({message})") from None
    return torchvision


def available() -> bool:
    try:
        _torchvision()
    except TorchvisionUnavailable:
        return False
    return True


def classifier_names() -> list[str]:
    """torchvision's image classifiers (not its detection, segmentation or video models), sorted."""
    torchvision = _torchvision()
    return sorted(torchvision.models.list_models(module=torchvision.models))


def first_conv_for(model: nn.Module, in_channels: int) -> nn.Module:
    """``model`` with its first Conv2d (in module order) rebuilt to take ``in_channels`` channels."""
    for parent in model.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.Conv2d):
                if child.in_channels != in_channels:
                    setattr(parent, child_name, nn.Conv2d(
                        in_channels, child.out_channels, child.kernel_size, child.stride, child.padding,
                        child.dilation, child.groups if child.groups == 1 else in_channels, child.bias is not None,
                        child.padding_mode,
                    ))  # fmt: skip
                return model
    raise ValueError("no Conv2d to adapt")


def builder(name: str):
    def build(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
        model = _torchvision().models.get_model(name, weights=None, num_classes=num_classes)
        return first_conv_for(model, in_channels)

    build.__name__ = name
    build.__doc__ = f"torchvision's {name}, first convolution adapted to the input's channels, no weights."
    return build
