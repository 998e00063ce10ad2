"""GoogLeNet as d2l defines it (section 7.4; zh.d2l.ai 2.0), for 1-channel 96x96 Fashion-MNIST.

Five stages: two plain convolution stages, then Inception blocks (four parallel paths: 1x1; 1x1 then 3x3; 1x1
then 5x5; 3x3 max pool then 1x1; concatenated), global average pooling and one linear layer.
"""

import torch
from torch import nn
from torch.nn import functional as F

from archs._registry import Published, Recipe, register_model


class Inception(nn.Module):
    """d2l's Inception block; ``c2`` and ``c3`` are (reduce, out) channel pairs of the 3x3 and 5x5 paths."""

    def __init__(self, in_channels: int, c1: int, c2: tuple[int, int], c3: tuple[int, int], c4: int):
        super().__init__()
        self.p1_1 = nn.Conv2d(in_channels, c1, kernel_size=1)
        self.p2_1 = nn.Conv2d(in_channels, c2[0], kernel_size=1)
        self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        self.p3_1 = nn.Conv2d(in_channels, c3[0], kernel_size=1)
        self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.p4_2 = nn.Conv2d(in_channels, c4, kernel_size=1)

    def forward(self, x):
        p1 = F.relu(self.p1_1(x))
        p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
        p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
        p4 = F.relu(self.p4_2(self.p4_1(x)))
        return torch.cat((p1, p2, p3, p4), dim=1)


@register_model(
    "googlenet",
    description="d2l GoogLeNet: 2 conv stages, 9 Inception blocks in 3 stages, global average pooling, 1024-10",
    input_size=96,
    recipe=Recipe(lr=0.1, batch_size=128, source="d2l 7.4 train_ch6"),
    published=Published(
        0.886,
        0.886,
        3_266,
        3_266,
        builds=1,
        single_builds=True,
        device="an unnamed GPU (zh.d2l.ai 2.0 build), fp32 eager",
    ),  # fmt: skip
    tags=("googlenet", "d2l-ch8"),
)
def googlenet(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3), nn.ReLU(),
                      nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
        nn.Sequential(nn.Conv2d(64, 64, kernel_size=1), nn.ReLU(),
                      nn.Conv2d(64, 192, kernel_size=3, padding=1), nn.ReLU(),
                      nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
        nn.Sequential(Inception(192, 64, (96, 128), (16, 32), 32),
                      Inception(256, 128, (128, 192), (32, 96), 64),
                      nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
        nn.Sequential(Inception(480, 192, (96, 208), (16, 48), 64),
                      Inception(512, 160, (112, 224), (24, 64), 64),
                      Inception(512, 128, (128, 256), (24, 64), 64),
                      Inception(512, 112, (144, 288), (32, 64), 64),
                      Inception(528, 256, (160, 320), (32, 128), 128),
                      nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
        nn.Sequential(Inception(832, 256, (160, 320), (32, 128), 128),
                      Inception(832, 384, (192, 384), (48, 128), 128),
                      nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten()),
        nn.Linear(1024, num_classes),
    )  # fmt: skip
