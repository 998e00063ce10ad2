"""Architectures from outside the package: ``--import MODULE`` for every subcommand that reads the registry."""

from __future__ import annotations

import argparse

import archs
from benchmarks.errors import UsageError


def add_import_argument(parser: argparse.ArgumentParser) -> None:
    """The run command's ``--import``, as ``RunOptions.imports`` declares it, for every subcommand that reads the
    registry."""
    from benchmarks.run import options

    options.add_arguments(parser, ("imports",))


def import_user_modules(specs: list[str]) -> None:
    for spec in specs:
        try:
            archs.import_models(spec)
        except Exception as err:  # a user's module can fail in any way; say which and how
            raise UsageError(f"--import {spec}: {err.__class__.__name__}: {err}".splitlines()[0]) from None
