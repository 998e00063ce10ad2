"""``python -m benchmarks list``: the registry as a table (pandas + tabulate)."""

import argparse

import pandas as pd

import archs
from benchmarks.measure.model_stats import count_params, forward_flops
from benchmarks.run.user_archs import add_import_argument, import_user_modules


def registry_table(pattern: str | None = None) -> pd.DataFrame:
    rows = []
    for name in archs.list_models(pattern):
        entry = archs.get_entry(name)
        model = entry.build()
        rows.append({
            "name": name,
            "params": count_params(model),
            "input": entry.input_size,
            "min input": entry.min_input_size,
            "GFLOPs at input": forward_flops(model, entry.input_size) / 1e9,  # one image, forward, at `input` px
            "d2l recipe": f"{entry.recipe.optimizer} {entry.recipe.lr:g}, bs {entry.recipe.batch_size}, "
                          f"{entry.recipe.epochs} ep",
            "description": entry.description,
        })  # fmt: skip
    return pd.DataFrame(rows)


def format_registry(pattern: str | None = None) -> str:
    table = registry_table(pattern)
    return table.to_markdown(index=False, floatfmt=".4f", intfmt=",")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pattern", nargs="?", help="shell-style filter, e.g. 'nin*'")
    add_import_argument(parser)


def torchvision_line() -> str:
    """One line on torchvision's classifiers: their names where torchvision imports, why not where it does not."""
    from archs import _torchvision

    try:
        names = _torchvision.classifier_names()
    except _torchvision.TorchvisionUnavailable as err:
        return f"torchvision: not available, so no torchvision:NAME entries: {err}"
    return f"torchvision ({len(names)} classifiers, --arch torchvision:NAME): {', '.join(names)}"


def main(args) -> int:
    import_user_modules(args.imports)
    if args.pattern and not archs.list_models(args.pattern):
        from benchmarks.errors import UsageError
        from benchmarks.run.plan import no_match

        raise UsageError(no_match(args.pattern))
    print(format_registry(args.pattern))
    print()
    print(torchvision_line())
    return 0
