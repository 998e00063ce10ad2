"""LeNet-5 as d2l defines it (sections 6.6 and 8.5): sigmoid activations and average pooling.

The fully connected part expects exactly the 5x5 (4x4 for the batch-norm variant) maps that a 28x28 input gives,
so LeNet takes 28-pixel inputs only.
"""

from torch import nn

from archs._registry import Published, Recipe, register_model


@register_model(
    "lenet",
    description="d2l LeNet-5: two 5x5 convs with sigmoid and average pooling, 120-84-10 MLP",
    input_size=28,
    min_input_size=28,
    max_input_size=28,
    recipe=Recipe(lr=0.9, batch_size=256, source="d2l 6.6 train_ch6"),
    published=Published(0.779, 0.824, 55_297, 84_565, builds=23),
    tags=("lenet",),
)
def lenet(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, num_classes),
    )  # fmt: skip


@register_model(
    "lenet-bn",
    description="d2l LeNet with batch normalization after every conv and hidden linear layer",
    input_size=28,
    min_input_size=28,
    max_input_size=28,
    recipe=Recipe(lr=1.0, batch_size=256, source="d2l 8.5 (nn.BatchNorm version)"),
    published=Published(0.708, 0.838, 50_597, 57_912, builds=2, single_builds=True),
    tags=("lenet",),
)
def lenet_bn(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5), nn.BatchNorm2d(6), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(),
        nn.Linear(84, num_classes),
    )  # fmt: skip
