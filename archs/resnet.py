"""ResNet-18 as d2l defines it (section 7.6; zh.d2l.ai 2.0), for 1-channel 96x96 Fashion-MNIST.

A 7x7 stem with batch normalization and max pooling, four stages of two ``Residual`` blocks (the first block of
each later stage halves the map and projects its shortcut with a 1x1 convolution), global average pooling, 512-10.
"""

from torch import nn
from torch.nn import functional as F

from archs._registry import Published, Recipe, register_model


class Residual(nn.Module):
    """Two 3x3 convolutions with batch normalization, added to the input (through a 1x1 convolution when the
    shape changes)."""

    def __init__(self, in_channels: int, channels: int, use_1x1conv: bool = False, strides: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(in_channels, channels, kernel_size=1, stride=strides) if use_1x1conv else None
        self.bn1 = nn.BatchNorm2d(channels)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.conv3 is not None:
            x = self.conv3(x)
        return F.relu(y + x)


def stem(in_channels: int) -> nn.Sequential:
    """d2l's ``b1`` of ResNet and DenseNet: 7x7/2 convolution, batch normalization, ReLU, 3x3/2 max pool."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
    )  # fmt: skip


def resnet_block(in_channels: int, channels: int, num_residuals: int, first_block: bool = False) -> nn.Sequential:
    blocks = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blocks.append(Residual(in_channels, channels, use_1x1conv=True, strides=2))
        else:
            blocks.append(Residual(channels, channels))
    return nn.Sequential(*blocks)


@register_model(
    "resnet18",
    description="d2l ResNet-18: 7x7 stem, 4 stages of 2 residual blocks with batch norm, global average pooling",
    input_size=96,
    recipe=Recipe(lr=0.05, batch_size=256, source="d2l 7.6 train_ch6"),
    published=Published(
        0.893,
        0.922,
        4_703,
        5_033,
        builds=2,
        single_builds=True,
        device="an unnamed GPU (zh.d2l.ai 2.0 builds), fp32 eager",
    ),  # fmt: skip
    tags=("resnet", "d2l-ch8"),
)
def resnet18(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    return nn.Sequential(
        stem(in_channels),
        resnet_block(64, 64, 2, first_block=True), resnet_block(64, 128, 2),
        resnet_block(128, 256, 2), resnet_block(256, 512, 2),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(512, num_classes),
    )  # fmt: skip
