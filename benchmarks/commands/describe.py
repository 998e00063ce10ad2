"""``python -m benchmarks describe NAME``: the resource card of one entry (``benchmarks.train.resource_card``)."""

from __future__ import annotations

import argparse
import json

import pandas as pd

import archs
from benchmarks.errors import UsageError
from benchmarks.measure import machine
from benchmarks.run.plan import resolve_device
from benchmarks.run.user_archs import add_import_argument, import_user_modules
from benchmarks.schema.compute import PRECISIONS
from benchmarks.train.compute import OPTIMIZERS
from benchmarks.train.resource_card import card, render


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="a registry name (or torchvision:NAME)")
    parser.add_argument("--resolution", type=int, help="input side (default: the entry's)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), help="default: the entry's recipe's")
    parser.add_argument("--momentum", type=float, default=0.0, help="SGD's momentum (one more buffer per weight)")
    parser.add_argument("--device", default="cpu", help="where to measure: cpu or cuda[:N]")
    parser.add_argument("--no-measure", action="store_true", help="the prediction only")
    parser.add_argument("--format", choices=["markdown", "csv", "json"], default="markdown",
                        help="markdown: the card with its totals; csv, json: the per-layer table, for a notebook")  # fmt: skip
    add_import_argument(parser)


def main(args) -> int:
    import_user_modules(args.imports)
    if args.batch_size <= 0 or (args.resolution is not None and args.resolution <= 0):
        raise UsageError("--batch-size and --resolution must be positive")
    try:
        archs.get_entry(args.name)
    except KeyError as err:
        raise UsageError(err.args[0]) from None
    device = resolve_device(args.device)
    table, totals = card(args.name, args.resolution, args.batch_size, args.precision, args.optimizer, device,
                         measured=not args.no_measure, momentum=args.momentum)  # fmt: skip
    totals["device_name"] = machine.device_name(device)
    if args.format != "markdown":  # numbers as numbers, for a notebook (the card's cells are formatted text)
        for column in table.columns:
            numbers = pd.to_numeric(table[column].astype(str).str.replace(",", ""), errors="coerce")
            if numbers.notna().all():
                table[column] = numbers
    if args.format == "csv":
        print(table.to_csv(index=False), end="")
    elif args.format == "json":
        print(json.dumps({"layers": table.to_dict(orient="records"), "totals": totals}, indent=1, default=str))
    else:
        print(render(table, totals))
    return 0
