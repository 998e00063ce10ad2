"""AlexNet as d2l defines it (section 7.1), for 1-channel 224x224 Fashion-MNIST.

An adaptive pool in front of the classifier (the identity at 224, as in torchvision's AlexNet) lets quick runs
use smaller inputs.
"""

from torch import nn

from archs._registry import Published, Recipe, register_model


@register_model(
    "alexnet",
    description="d2l AlexNet: 5 convs (11x11/4 first), 3 max pools, 4096-4096-10 with dropout 0.5",
    input_size=224,
    min_input_size=65,
    recipe=Recipe(lr=0.01, batch_size=128, source="d2l 7.1 train_ch6"),
    published=Published(0.866, 0.885, 3_942, 4_186, builds=23),
    tags=("alexnet",),
)
def alexnet(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(in_channels, 96, kernel_size=11, stride=4, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(96, 256, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.AdaptiveAvgPool2d((5, 5)),
        nn.Flatten(),
        nn.Linear(256 * 5 * 5, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, num_classes),
    )  # fmt: skip
