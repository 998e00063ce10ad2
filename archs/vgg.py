"""VGG as d2l defines it (section 7.2): VGG blocks of 3x3 convs, each block closed by a 2x2 max pool.

An architecture is data, ``((num_convs, out_channels), ...)``; one builder turns it into layers. An adaptive pool
in front of the classifier (the identity at 224, as in torchvision's VGG) lets quick runs use smaller inputs.
"""

from torch import nn

from archs._registry import Published, Recipe, register_model

VGG11 = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))


def vgg_block(num_convs: int, in_channels: int, out_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(num_convs):
        layers += [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU()]
        in_channels = out_channels
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def vgg(arch, in_channels: int = 1, num_classes: int = 10) -> nn.Sequential:
    blocks = []
    for num_convs, out_channels in arch:
        blocks.append(vgg_block(num_convs, in_channels, out_channels))
        in_channels = out_channels
    return nn.Sequential(
        *blocks,
        nn.AdaptiveAvgPool2d((7, 7)),
        nn.Flatten(),
        nn.Linear(in_channels * 7 * 7, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, num_classes),
    )  # fmt: skip


@register_model(
    "vgg11",
    description="d2l VGG-11 at full width: 8 convs in 5 VGG blocks, 4096-4096-10 with dropout 0.5",
    input_size=224,
    min_input_size=32,
    recipe=Recipe(lr=0.05, batch_size=128, source="d2l 7.2 recipe of the small VGG; d2l trains no full-width one"),
    tags=("vgg",),
)
def vgg11(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    return vgg(VGG11, in_channels, num_classes)


@register_model(
    "vgg11-small",
    description="VGG-11 with every conv's channels divided by 4 (what d2l trains, ratio = 4)",
    input_size=224,
    min_input_size=32,
    recipe=Recipe(lr=0.05, batch_size=128, source="d2l 7.2 train_ch6"),
    published=Published(0.900, 0.924, 2_464, 2_564, builds=23),
    tags=("vgg",),
)
def vgg11_small(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    return vgg(tuple((n, c // 4) for n, c in VGG11), in_channels, num_classes)
