"""The command line: ``python -m benchmarks {list,run,leaderboard,plots,describe}``.

Each subcommand is a module with ``HELP``, ``add_arguments(parser)`` and ``main(args)``, listed in ``COMMANDS``.
Bad input ends in one line on stderr and a non-zero exit, never a traceback. Ctrl-C and SIGTERM stop a suite
between records: finished records stay, no partial one is written, and the exit status is 130 or 143.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

EXIT_USAGE, EXIT_SIGINT, EXIT_SIGTERM = 2, 130, 143
COMMANDS = {  # name -> module
    "list": "benchmarks.registry_table",
    "run": "benchmarks.runner",
    "leaderboard": "benchmarks.leaderboard",
    "plots": "benchmarks.plots",
    "describe": "benchmarks.resource_card",
}


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that no half-finished work is kept."""


def _on_sigterm(signum, frame):
    raise Terminated()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(main=module.main)
    return parser


def main(argv=None) -> int:
    import archs
    from benchmarks.errors import UsageError
    from benchmarks.fashion_mnist import DataError

    for problem in archs.IMPORT_ERRORS:  # a broken file in archs/: one line each, the rest still works
        print(f"warning: {problem}", file=sys.stderr)
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return args.main(args)
    except (UsageError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted: finished records are kept, none partial; run the same command to resume",
              file=sys.stderr)  # fmt: skip
        return EXIT_SIGINT
    except Terminated:
        print("terminated: finished records are kept, none partial; run the same command to resume",
              file=sys.stderr)  # fmt: skip
        return EXIT_SIGTERM
