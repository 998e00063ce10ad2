"""``python -m benchmarks run``: train and time architectures, one run record per (architecture, config, seed).

The arguments become one ``RunOptions`` (``benchmarks.run.options``, where every flag is declared with its field),
every one of them checked before any training starts (``benchmarks.run.plan``); the suite (``benchmarks.run.suite``)
runs the plan.
"""

from __future__ import annotations

import argparse

from benchmarks.run import options
from benchmarks.run.suite import run_suite

add_arguments = options.add_arguments


def main(args: argparse.Namespace) -> int:
    return run_suite(options.from_args(args))
