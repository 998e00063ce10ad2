"""DenseNet as d2l defines it (section 7.7; zh.d2l.ai 2.0), for 1-channel 96x96 Fashion-MNIST.

ResNet's stem, then four dense blocks of four convolutions each (growth rate 32: every convolution adds 32
channels, concatenated to its input), with a transition (1x1 convolution halving the channels, 2x2 average pool)
between blocks; batch normalization, ReLU, global average pooling, one linear layer.
"""

import torch
from torch import nn

from archs._registry import Published, Recipe, register_model
from archs.resnet import stem

DENSE_BLOCKS, GROWTH_RATE = (4, 4, 4, 4), 32


def conv_block(in_channels: int, channels: int) -> nn.Sequential:
    """Batch norm, ReLU, 3x3 convolution: DenseNet's pre-activation order."""
    return nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(), nn.Conv2d(in_channels, channels, 3, padding=1))


class DenseBlock(nn.Module):
    def __init__(self, num_convs: int, in_channels: int, growth: int):
        super().__init__()
        self.net = nn.Sequential(*(conv_block(in_channels + growth * i, growth) for i in range(num_convs)))

    def forward(self, x):
        for block in self.net:
            x = torch.cat((x, block(x)), dim=1)
        return x


def transition_block(in_channels: int, channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.BatchNorm2d(in_channels), nn.ReLU(), nn.Conv2d(in_channels, channels, kernel_size=1),
        nn.AvgPool2d(kernel_size=2, stride=2),
    )  # fmt: skip


@register_model(
    "densenet",
    description="d2l DenseNet: ResNet's stem, 4 dense blocks of 4 convs (growth 32) with halving transitions",
    input_size=96,
    recipe=Recipe(lr=0.1, batch_size=256, source="d2l 7.7 train_ch6"),
    published=Published(
        0.822,
        0.885,
        5_507,
        5_626,
        builds=2,
        single_builds=True,
        device="an unnamed GPU (zh.d2l.ai 2.0 builds), fp32 eager",
    ),  # fmt: skip
    tags=("densenet", "d2l-ch8"),
)
def densenet(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    layers, channels = [stem(in_channels)], 64
    for i, num_convs in enumerate(DENSE_BLOCKS):
        layers.append(DenseBlock(num_convs, channels, GROWTH_RATE))
        channels += num_convs * GROWTH_RATE
        if i != len(DENSE_BLOCKS) - 1:
            layers.append(transition_block(channels, channels // 2))
            channels //= 2
    layers += [nn.BatchNorm2d(channels), nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
               nn.Linear(channels, num_classes)]  # fmt: skip
    return nn.Sequential(*layers)
