"""Network in Network as d2l defines it (section 7.3), and the ablations of Lin, Chen and Yan (2013).

One builder, ``nin``, makes the reference network and every ablation: how many 1x1 convs each block has, whether
the dropout stays, global average pooling or a fully connected head, batch normalization. NiN is fully
convolutional, so it takes any input from its minimum side up.
"""

from torch import nn

from archs._registry import Published, Recipe, register_model

# (out_channels, kernel_size, stride, padding) of the four NiN blocks; a 3x3/2 max pool follows each of the first three
BLOCKS = ((96, 11, 4, 0), (256, 5, 1, 2), (384, 3, 1, 1))
RECIPE = Recipe(lr=0.1, batch_size=128, source="d2l 7.3 train_ch6 (d2l v1.0 lowers lr to 0.05)")
MIN_INPUT = 67  # smallest side whose last max pool still gets a 3x3 map


def nin_block(
    in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int,
    num_1x1: int = 2, batch_norm: bool = False, first_width: int | None = None,
) -> nn.Sequential:  # fmt: skip
    """One conv followed by ``num_1x1`` 1x1 convs (a per-pixel MLP), ReLU after each. ``first_width`` gives the
    first conv other output channels than ``out_channels`` (the 1x1 convs then reduce to it: NiN exercise 4)."""
    widths = [first_width or out_channels] + [out_channels] * num_1x1
    layers: list[nn.Module] = []
    for width in widths:
        layers.append(nn.Conv2d(in_channels, width, kernel_size, stride, padding))
        if batch_norm:
            layers.append(nn.BatchNorm2d(width))
        layers.append(nn.ReLU())
        in_channels, kernel_size, stride, padding = width, 1, 1, 0
    return nn.Sequential(*layers)


def nin(
    in_channels: int = 1, num_classes: int = 10, *,
    num_1x1: int = 2, dropout: float = 0.5, head: str = "gap", batch_norm: bool = False, last_first_width=None,
) -> nn.Sequential:  # fmt: skip
    """NiN; the keyword arguments select an ablation (the defaults are d2l's network).

    ``head="gap"`` averages each class map over space; ``head="fc"`` flattens the 5x5 class maps (what a 224 input
    gives) and classifies them with one linear layer, the paper's GAP against FC comparison. ``last_first_width``
    makes the last block's 3x3 conv that wide, so that 384 channels reach the 10 class maps in two steps (384 -> it
    -> 10) rather than in one (d2l's 3x3 conv 384 -> 10).
    """
    layers: list[nn.Module] = []
    for out_channels, kernel_size, stride, padding in BLOCKS:
        layers += [
            nin_block(in_channels, out_channels, kernel_size, stride, padding, num_1x1, batch_norm),
            nn.MaxPool2d(kernel_size=3, stride=2),
        ]
        in_channels = out_channels
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nin_block(in_channels, num_classes, 3, 1, 1, num_1x1, batch_norm, last_first_width))
    if head == "gap":
        layers += [nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten()]
    elif head == "fc":
        layers += [nn.AdaptiveAvgPool2d((5, 5)), nn.Flatten(), nn.Linear(num_classes * 5 * 5, num_classes)]
    else:
        raise ValueError(f"head must be 'gap' or 'fc', not {head!r}")
    return nn.Sequential(*layers)


# d2l publishes no recipe for the variants: each trains with NiN's, so that the one change made is the only one
VARIANT_RECIPE = Recipe(
    lr=0.1, batch_size=128, source="NiN's d2l 7.3 recipe, unchanged, so an ablation changes one thing"
)


def _register_nin(name: str, description: str, published: Published | None = None, needs_map=False, **variant):
    tags = ("nin",) if name == "nin" else ("nin", "ablation")
    if needs_map:  # GAP against FC means something only where the last class map is larger than 1x1
        tags += ("needs-spatial-map",)
    recipe = RECIPE if name == "nin" else VARIANT_RECIPE

    @register_model(name, description=description, input_size=224, min_input_size=MIN_INPUT, recipe=recipe,
                    published=published, tags=tags)  # fmt: skip
    def build(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
        return nin(in_channels, num_classes, **variant)

    build.__name__ = name.replace("-", "_")
    return build


_register_nin(
    "nin",
    "d2l NiN: 4 NiN blocks (conv + two 1x1 convs), dropout 0.5, global average pooling",
    Published(0.772, 0.879, 3_088, 3_193, builds=22, not_converged=(0.100,)),
)
_register_nin("nin-one-1x1", "NiN with one 1x1 conv per block instead of two", num_1x1=1)
_register_nin("nin-no-1x1", "NiN with no 1x1 convs: plain convs, dropout, global average pooling", num_1x1=0)
_register_nin("nin-no-dropout", "NiN without its dropout layer", dropout=0.0)
_register_nin(
    "nin-fc-head", "NiN with a linear classifier on the 5x5 class maps instead of GAP", head="fc", needs_map=True
)
_register_nin(
    "nin-stepped",
    "NiN whose last block reduces 384 -> 96 -> 10 channels (a 3x3 conv to 96, then a 1x1 to 10)",
    last_first_width=96,
)
_register_nin("nin-bn", "NiN with batch normalization after every conv", batch_norm=True)
